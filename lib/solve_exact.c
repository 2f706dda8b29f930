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

/* Columns of C per product call: an oracle with apply_many shares its
 * forward pass between them (model oracle: the forward pass is about a
 * third of an HVP of a softmax head); memory 2 x block x P floats a thread. */
#define DENSE_BLOCK 16

typedef struct {
  const fi_oracle *o;
  double *H;
  float **fws;
} dense_job;

static void dense_job_run(void *arg, int thread, int64_t job) {
  dense_job *D = arg;
  const fi_oracle *o = D->o;
  const int64_t P = o->P, c0 = job * DENSE_BLOCK,
                k = P - c0 < DENSE_BLOCK ? P - c0 : DENSE_BLOCK;
  float *E = D->fws[thread], *HE = E + DENSE_BLOCK * P;
  memset(E, 0, (size_t)(k * P) * sizeof *E);
  for (int64_t j = 0; j < k; j++) E[j * P + c0 + j] = 1;
  if (o->apply_many) o->apply_many(o->ctx[thread], NULL, o->N, k, E, HE);
  else
    for (int64_t j = 0; j < k; j++) fi_apply_full(o, thread, E + j * P, HE + j * P);
  /* column c of C, stored as row c; symmetrised below */
  for (int64_t j = 0; j < k * P; j++) D->H[c0 * P + j] = HE[j];
  fi_progress_add(k);
}

double *fi_dense_operator(const fi_oracle *o, fi_solve_error *err) {
  const int64_t P = o->P;
  int nt = fi_oracle_threads(o);
  dense_job D = {.o = o};
  D.H = fi_aligned(fi_mul_size(P, P, "dense matrix"), sizeof(double));
  D.fws = fi_calloc(nt, sizeof *D.fws);
  for (int t = 0; t < nt; t++)
    D.fws[t] = fi_aligned(fi_mul_size(2 * DENSE_BLOCK, P, "dense matrix"), sizeof(float));
  fi_progress_count("dense columns", P);
  fi_pool_run(nt, (P + DENSE_BLOCK - 1) / DENSE_BLOCK, dense_job_run, &D);
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

struct fi_exact_eig {
  int64_t P;
  double *Q;        /* [P, P] row-major: column k is the eigenvector of w[k] */
  double *w;        /* [P] ascending */
  const char *name; /* the operator's, for messages */
  double logged;    /* the shift the spectrum's notes were last logged for (NaN: none) */
};

fi_exact_eig *fi_exact_eig_new(const fi_oracle *o, int64_t max_p, fi_solve_error *err) {
  const int64_t P = o->P;
  if (P > max_p) {
    fi_solve_fail(err, FI_SOLVE_TOO_LARGE,
                  "exact: %lld parameters exceed the limit of %lld (the dense matrix needs %.3g GB)",
                  (long long)P, (long long)max_p, (double)P * P * 8 / 1e9);
    return NULL;
  }
  double *A = fi_dense_operator(o, err);
  if (!A) return NULL;
  double *w = fi_malloc(fi_mul_size(P, sizeof(double), "eigenvalues"));
  lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)P, A, (lapack_int)P, w);
  if (info != 0) fi_die("exact: LAPACK dsyevd failed (info %d)", (int)info);
  fi_exact_eig *E = fi_calloc(1, sizeof *E);
  *E = (fi_exact_eig){.P = P, .Q = A, .w = w, .name = fi_oracle_name(o), .logged = NAN};
  return E;
}

void fi_exact_eig_range(const fi_exact_eig *E, double *lo, double *hi) {
  *lo = E->w[0];
  *hi = E->w[E->P - 1];
}

void fi_exact_eig_free(fi_exact_eig *E) {
  if (!E) return;
  free(E->Q);
  free(E->w);
  free(E);
}

/* What the shift does to this spectrum, once per shift (not per group). */
static void log_spectrum(fi_exact_eig *E, double shift, double big, int64_t nnull) {
  if (E->logged == shift) return;
  E->logged = shift;
  const int64_t P = E->P;
  const double *w = E->w;
  /* The ridge's bias: the eigen-directions it dominates (formats/ihvp.md,
   * "What the ridge does"). */
  int64_t nbelow = 0, nneg = 0;
  double lneg = 0;
  for (int64_t i = 0; i < P; i++) {
    nbelow += fabs(w[i]) < shift;
    if (w[i] + shift < -FI_EXACT_RCOND * big && !nneg++) lneg = w[i] + shift;
  }
  if (nbelow)
    fi_log("exact: the shift %.3g is above %lld of the %lld eigenvalues of the %s (%.3g .. %.3g): "
           "the answer is the damped system's, and its scores can differ from the undamped "
           "solve's", shift, (long long)nbelow, (long long)P, E->name, w[0], w[P - 1]);
  if (nnull)
    fi_log("exact: %lld eigenvalue(s) of H + shift*I within %g of the largest (%.3g) treated as "
           "zero (pseudo-inverse); a larger shift regularises them instead",
           (long long)nnull, FI_EXACT_RCOND, big);
  if (nneg)
    fi_log("exact: H + shift*I has %lld negative eigenvalue(s) (smallest %.3g): the solve is "
           "exact but LiSSA/CG would not converge to it",
           (long long)nneg, lneg);
}

fi_solve_status fi_exact_eig_solve(fi_exact_eig *E, double shift, int64_t m, const float *V,
                                   float *S, fi_solve_error *err) {
  const int64_t P = E->P;
  const double *w = E->w;
  /* Eigenvalues of H + shift*I (H: the oracle's C). H comes from float products (relative
   * error ~1e-7), so eigenvalues within FI_EXACT_RCOND of the largest are
   * zero to working precision: they get no inverse (pseudo-inverse, the
   * minimum-norm solution CG also reaches). Softmax regression has such a
   * null direction: adding a constant to every class's bias. */
  double big = 0;
  for (int64_t i = 0; i < P; i++) big = fmax(big, fabs(w[i] + shift));
  if (big == 0) return fi_solve_fail(err, FI_SOLVE_ZERO, "exact: H + shift*I is zero");
  double *inv = fi_malloc(fi_mul_size(P, sizeof(double), "exact solve"));
  int64_t nnull = 0;
  for (int64_t i = 0; i < P; i++) {
    double l = w[i] + shift;
    nnull += fabs(l) <= FI_EXACT_RCOND * big;
    inv[i] = fabs(l) <= FI_EXACT_RCOND * big ? 0 : 1 / l;
  }
  log_spectrum(E, shift, big, nnull);
  /* X = V Q diag(inv) Q^T for the m vectors at once: two GEMMs. */
  double *Vd = fi_malloc(fi_mul_size(fi_mul_size(m, P, "exact solve"), sizeof(double), "exact solve")),
         *Cd = fi_malloc(fi_mul_size(fi_mul_size(m, P, "exact solve"), sizeof(double), "exact solve"));
  for (int64_t i = 0; i < m * P; i++) Vd[i] = V[i];
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, P, P, 1.0, Vd, P, E->Q, P, 0.0, Cd, P);
  for (int64_t i = 0; i < m; i++)
    for (int64_t k = 0; k < P; k++) Cd[i * P + k] *= inv[k];
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, P, P, 1.0, Cd, P, E->Q, P, 0.0, Vd, P);
  for (int64_t i = 0; i < m * P; i++) S[i] = (float)Vd[i];
  free(Vd);
  free(Cd);
  free(inv);
  return FI_SOLVE_OK;
}

fi_solve_status fi_exact_solve_eig(const fi_oracle *o, double shift, int64_t max_p, int64_t m,
                                   const float *V, float *S, double *eig_min, double *eig_max,
                                   fi_solve_error *err) {
  fi_exact_eig *E = fi_exact_eig_new(o, max_p, err);
  if (!E) return err->status;
  if (eig_min) *eig_min = E->w[0];
  if (eig_max) *eig_max = E->w[E->P - 1];
  fi_solve_status st = fi_exact_eig_solve(E, shift, m, V, S, err);
  fi_exact_eig_free(E);
  return st;
}

static fi_solve_status exact_solve(const fi_oracle *o, const fi_solve_opts *opt, int64_t m,
                                   const float *V, float *S, const char *const *ids,
                                   fi_solve_info *info, fi_solve_error *err) {
  (void)ids;
  if (info) *info = (fi_solve_info){.sum_of = 1};
  if (opt->exact.eig) return fi_exact_eig_solve(opt->exact.eig, opt->c.shift, m, V, S, err);
  return fi_exact_solve_eig(o, opt->c.shift, opt->exact.max_p, m, V, S, NULL, NULL, err);
}

/* C's eigendecomposition, once for every group's solve, whatever the shift. */
static fi_solve_status exact_prepare(const fi_oracle *o, fi_solve_opts *opt, fi_solve_error *err) {
  if (opt->exact.eig) return FI_SOLVE_OK;
  opt->exact.eig = fi_exact_eig_new(o, opt->exact.max_p, err);
  return opt->exact.eig ? FI_SOLVE_OK : err->status;
}

/* --damping auto: no ridge beyond what the spectrum needs (solve.h). The
 * eigendecomposition is kept in opt for every group's solve. */
static fi_solve_status exact_ridge(const fi_oracle *o, fi_solve_opts *opt, fi_solve_error *err) {
  fi_exact_eig_free(opt->exact.eig);
  opt->exact.eig = NULL;
  if (exact_prepare(o, opt, err)) return err->status;
  const fi_exact_eig *E = opt->exact.eig;
  double lo, hi;
  fi_exact_eig_range(E, &lo, &hi);
  opt->c.shift = fi_ridge_psd_shift(lo, hi);
  fi_log("ridge auto (exact): eigenvalues of the %s %.3g .. %.3g -> shift %.3g (the least that "
         "makes it positive semi-definite; its null space is cut: pseudo-inverse)",
         E->name, lo, hi, opt->c.shift);
  return FI_SOLVE_OK;
}

const fi_solver fi_solver_exact = {"exact", exact_solve, NULL, .solves = 1, .ridge = exact_ridge,
                                   .prepare = exact_prepare};
