/* solve_cg.c - conjugate gradients on (C + shift I) x = v with full-batch
 * products, in double (solve.h; Koh & Liang's solver). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "solve.h"
#include "util.h"

enum { CG_OK = 0, CG_NEGATIVE, CG_MAXITER, CG_NONFINITE };

typedef struct {
  const fi_oracle *o;
  double shift, tol;
  int64_t max_iter;
  const float *V;
  float *S;
  float **fws;
  double **dws;
  int64_t *iters;
  int *status;        /* CG_* per vector */
  double *info;       /* curvature or residual at failure */
} cg_job;

static void cg_job_run(void *arg, int thread, int64_t job) {
  cg_job *C = arg;
  const int64_t P = C->o->P;
  const float *v = C->V + job * P;
  float *pf = C->fws[thread], *Apf = pf + P;
  double *x = C->dws[thread], *r = x + P, *p = r + P;
  double rr = 0;
  for (int64_t k = 0; k < P; k++) {
    x[k] = 0;
    r[k] = p[k] = v[k];
    rr += (double)v[k] * v[k];
  }
  const double stop = C->tol * sqrt(rr);
  int64_t it = 0;
  C->status[job] = CG_OK;
  while (sqrt(rr) > stop) {
    if (it >= C->max_iter) {
      C->status[job] = CG_MAXITER;
      C->info[job] = sqrt(rr) / (stop / C->tol);
      break;
    }
    it++;
    fi_progress_add(1);
    for (int64_t k = 0; k < P; k++) pf[k] = (float)p[k];
    fi_apply_full(C->o, thread, pf, Apf);
    double pAp = 0, pp = 0;
    for (int64_t k = 0; k < P; k++) {
      pAp += p[k] * ((double)Apf[k] + C->shift * p[k]);
      pp += p[k] * p[k];
    }
    if (!isfinite(pAp)) {
      C->status[job] = CG_NONFINITE;
      break;
    }
    if (!(pAp > 0)) {
      C->status[job] = CG_NEGATIVE;
      C->info[job] = pAp / pp;
      break;
    }
    double alpha = rr / pAp, rr2 = 0;
    for (int64_t k = 0; k < P; k++) {
      x[k] += alpha * p[k];
      r[k] -= alpha * ((double)Apf[k] + C->shift * p[k]);
      rr2 += r[k] * r[k];
    }
    double beta = rr2 / rr;
    rr = rr2;
    for (int64_t k = 0; k < P; k++) p[k] = r[k] + beta * p[k];
  }
  C->iters[job] = it;
  float *s = C->S + job * P;
  for (int64_t k = 0; k < P; k++) s[k] = (float)x[k];
}

fi_solve_status fi_cg_solve(const fi_oracle *o, const fi_solve_opts *opt, int64_t m,
                            const float *V, float *S, const char *const *ids,
                            fi_solve_info *info, fi_solve_error *err) {
  const int64_t P = o->P;
  const double shift = opt->c.shift, tol = opt->cg.tol;
  const int64_t max_iter = opt->cg.max_iter;
  int nt = fi_oracle_threads(o);
  cg_job C = {.o = o, .shift = shift, .tol = tol, .max_iter = max_iter, .V = V, .S = S};
  C.fws = fi_calloc(nt, sizeof *C.fws);
  C.dws = fi_calloc(nt, sizeof *C.dws);
  for (int t = 0; t < nt; t++) {
    C.fws[t] = fi_aligned(fi_mul_size(2, P, "CG workspace"), sizeof(float));
    C.dws[t] = fi_aligned(fi_mul_size(3, P, "CG workspace"), sizeof(double));
  }
  C.iters = fi_calloc(m, sizeof *C.iters);
  C.status = fi_calloc(m, sizeof *C.status);
  C.info = fi_calloc(m, sizeof *C.info);
  fi_progress_count("CG iterations", 0);
  fi_pool_run(nt, m, cg_job_run, &C);
  fi_progress_count(NULL, 0);
  int64_t maxit = 0;
  fi_solve_status st = FI_SOLVE_OK;
  for (int64_t i = 0; i < m && !st; i++) {
    char name[128];
    fi_vector_name(name, sizeof name, ids, i);
    if (C.status[i] == CG_NEGATIVE)
      st = fi_solve_fail(err, FI_SOLVE_INDEFINITE,
                         "%s: CG: H + shift*I has non-positive curvature %.3g along a search "
                         "direction (shift %g): the %s is indefinite here",
                         name, C.info[i], shift, fi_oracle_name(o));
    else if (C.status[i] == CG_NONFINITE)
      st = fi_solve_fail(err, FI_SOLVE_NONFINITE, "%s: CG: the %s-vector product is not finite",
                         name, fi_oracle_name(o));
    else if (C.status[i] == CG_MAXITER)
      st = fi_solve_fail(err, FI_SOLVE_NO_CONVERGENCE,
                         "%s: CG: relative residual %.3g after %lld iterations is above the "
                         "tolerance %g",
                         name, C.info[i], (long long)max_iter, tol);
    if (C.iters[i] > maxit) maxit = C.iters[i];
  }
  if (info) *info = (fi_solve_info){.iters = maxit, .sum_of = 1};
  for (int t = 0; t < nt; t++) {
    free(C.fws[t]);
    free(C.dws[t]);
  }
  free(C.fws);
  free(C.dws);
  free(C.iters);
  free(C.status);
  free(C.info);
  return st;
}

static void cg_fields(fi_writer *w, const fi_solve_opts *opt, const fi_solve_info *info) {
  fi_wdouble(w, "tol", opt->cg.tol);
  fi_wint(w, "max_iter", opt->cg.max_iter);
  fi_wint(w, "iters", info->iters);
}

/* --damping auto: the least shift that makes the probed spectrum positive
 * semi-definite, plus what bounds its condition number to the kappa CG
 * solves to --tol within --max-iter (solve.h). From Lanczos on the
 * full-batch operator with a fixed start vector: the ridge depends on the
 * model, the data and the CG settings, never on --seed. */
static fi_solve_status cg_ridge(const fi_oracle *o, fi_solve_opts *opt, fi_solve_error *err) {
  double t0 = fi_now(), lo, hi;
  int steps;
  fi_solve_status st =
      fi_lanczos_extremes(o, FI_RIDGE_LANCZOS_STEPS, FI_RIDGE_PROBE_SEED, &lo, &hi, &steps, err);
  if (st) return st;
  const double a = fi_ridge_psd_shift(lo, hi), kappa = fi_cg_kappa(opt->cg.max_iter, opt->cg.tol);
  /* hi + a is the spread of the PSD system: 0 only for a zero (or -c I) operator; a negative
   * definite one (hi < 0) is still solvable at its shift */
  if (!(hi + a > 0))
    return fi_solve_fail(err, FI_SOLVE_ZERO, "the full-batch %s looks zero (eigenvalues %g .. %g)",
                         fi_oracle_name(o), lo, hi);
  opt->c.shift = a + (hi + a) / (kappa - 1);
  fi_log("ridge auto (cg): Lanczos (%d steps, %.2fs) found eigenvalues of the %s %.3g .. %.3g -> "
         "shift %.3g = %.3g (to positive semi-definite) + %.3g / (kappa %.3g - 1), the condition "
         "number CG solves to tol %g within %lld iterations", steps, fi_now() - t0,
         fi_oracle_name(o), lo, hi, opt->c.shift, a, hi + a, kappa, opt->cg.tol,
         (long long)opt->cg.max_iter);
  return FI_SOLVE_OK;
}

const fi_solver fi_solver_cg = {"cg", fi_cg_solve, cg_fields, .solves = 1, .ridge = cg_ridge};
