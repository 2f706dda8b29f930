/* solve_exact.c - the dense operator from P full-batch products and the
 * exact solve through its eigendecomposition (solve.h). */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "solve.h"
#include "util.h"

typedef struct {
  const fi_oracle *o;
  double *H;
  float **fws;
} dense_job;

static void dense_job_run(void *arg, int thread, int64_t c) {
  dense_job *D = arg;
  const int64_t P = D->o->P;
  float *e = D->fws[thread], *He = e + P;
  memset(e, 0, P * sizeof *e);
  e[c] = 1;
  fi_apply_full(D->o, thread, e, He);
  double *row = D->H + c * P; /* column c of C, stored as row c; symmetrised below */
  for (int64_t k = 0; k < P; k++) row[k] = He[k];
  fi_progress_add(1);
}

double *fi_dense_operator(const fi_oracle *o, fi_solve_error *err) {
  const int64_t P = o->P;
  int nt = fi_oracle_threads(o);
  dense_job D = {.o = o};
  D.H = fi_aligned(fi_mul_size(P, P, "dense matrix"), sizeof(double));
  D.fws = fi_calloc(nt, sizeof *D.fws);
  for (int t = 0; t < nt; t++) D.fws[t] = fi_aligned(fi_mul_size(2, P, "dense matrix"), sizeof(float));
  fi_progress_count("dense columns", P);
  fi_pool_run(nt, P, dense_job_run, &D);
  fi_progress_count(NULL, 0);
  for (int64_t i = 0; i < P; i++)
    for (int64_t j = i + 1; j < P; j++) {
      double a = 0.5 * (D.H[i * P + j] + D.H[j * P + i]);
      D.H[i * P + j] = D.H[j * P + i] = a;
    }
  for (int t = 0; t < nt; t++) free(D.fws[t]);
  free(D.fws);
  for (int64_t i = 0; i < P * P; i++)
    if (!isfinite(D.H[i])) {
      free(D.H);
      fi_solve_fail(err, FI_SOLVE_NONFINITE, "the %s has non-finite entries", fi_oracle_name(o));
      return NULL;
    }
  return D.H;
}

fi_solve_status fi_exact_solve_eig(const fi_oracle *o, double shift, int64_t max_p, int64_t m,
                                   const float *V, float *S, double *eig_min, double *eig_max,
                                   fi_solve_error *err) {
  const int64_t P = o->P;
  if (P > max_p)
    return fi_solve_fail(err, FI_SOLVE_TOO_LARGE,
                         "exact: %lld parameters exceed the limit of %lld (the dense matrix "
                         "needs %.3g GB)",
                         (long long)P, (long long)max_p, (double)P * P * 8 / 1e9);
  double *A = fi_dense_operator(o, err);
  if (!A) return err->status;
  double *w = fi_malloc(fi_mul_size(P, sizeof(double), "eigenvalues"));
  lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)P, A, (lapack_int)P, w);
  if (info != 0) fi_die("exact: LAPACK dsyevd failed (info %d)", (int)info);
  if (eig_min) *eig_min = w[0];
  if (eig_max) *eig_max = w[P - 1];
  /* Eigenvalues of H + shift*I (H: the oracle's C). H comes from float products (relative
   * error ~1e-7), so eigenvalues within FI_EXACT_RCOND of the largest are
   * zero to working precision: they get no inverse (pseudo-inverse, the
   * minimum-norm solution CG also reaches). Softmax regression has such a
   * null direction: adding a constant to every class's bias. */
  double big = 0;
  for (int64_t i = 0; i < P; i++) big = fmax(big, fabs(w[i] + shift));
  if (big == 0) {
    free(w);
    free(A);
    return fi_solve_fail(err, FI_SOLVE_ZERO, "exact: H + shift*I is zero");
  }
  /* The ridge's bias: the eigen-directions it dominates (formats/ihvp.md,
   * "What the ridge does"). */
  int64_t nbelow = 0;
  for (int64_t i = 0; i < P; i++) nbelow += fabs(w[i]) < shift;
  if (nbelow)
    fi_log("exact: the shift %.3g is above %lld of the %lld eigenvalues of the %s (%.3g .. %.3g): "
           "the answer is the damped system's, and its scores can differ from the undamped "
           "solve's", shift, (long long)nbelow, (long long)P, fi_oracle_name(o), w[0], w[P - 1]);
  int64_t nneg = 0, nnull = 0;
  double lneg = 0;
  for (int64_t i = 0; i < P; i++) {
    double l = w[i] + shift;
    if (fabs(l) <= FI_EXACT_RCOND * big) {
      w[i] = INFINITY; /* 1/inf = 0 below */
      nnull++;
    } else if (l < 0) {
      if (!nneg) lneg = l;
      nneg++;
    }
  }
  if (nnull)
    fi_log("exact: %lld eigenvalue(s) of H + shift*I within %g of the largest (%.3g) treated as "
           "zero (pseudo-inverse); a larger shift regularises them instead",
           (long long)nnull, FI_EXACT_RCOND, big);
  if (nneg)
    fi_log("exact: H + shift*I has %lld negative eigenvalue(s) (smallest %.3g): the solve is "
           "exact but LiSSA/CG would not converge to it",
           (long long)nneg, lneg);
  double *c = fi_malloc(fi_mul_size(P, sizeof(double), "exact solve")),
         *x = fi_malloc(fi_mul_size(P, sizeof(double), "exact solve")),
         *vd = fi_malloc(fi_mul_size(P, sizeof(double), "exact solve"));
  for (int64_t i = 0; i < m; i++) {
    for (int64_t k = 0; k < P; k++) vd[k] = V[i * P + k];
    /* x = Q diag(1/(w+shift)) Q^T v; Q's columns are the eigenvectors. */
    cblas_dgemv(CblasRowMajor, CblasTrans, P, P, 1.0, A, P, vd, 1, 0.0, c, 1);
    for (int64_t k = 0; k < P; k++) c[k] /= (w[k] + shift);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, P, P, 1.0, A, P, c, 1, 0.0, x, 1);
    for (int64_t k = 0; k < P; k++) S[i * P + k] = (float)x[k];
  }
  free(c);
  free(x);
  free(vd);
  free(w);
  free(A);
  return FI_SOLVE_OK;
}

static fi_solve_status exact_solve(const fi_oracle *o, const fi_solve_opts *opt, int64_t m,
                                   const float *V, float *S, const char *const *ids,
                                   fi_solve_info *info, fi_solve_error *err) {
  if (info) *info = (fi_solve_info){.sum_of = 1};
  return fi_exact_solve_eig(o, opt->c.shift, opt->exact.max_p, m, V, S, NULL, NULL, err);
}

const fi_solver fi_solver_exact = {"exact", exact_solve, NULL, .solves = 1};
