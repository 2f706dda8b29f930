/* solve_lanczos.c - the extreme eigenvalues of the full-batch operator by
 * Lanczos from a fixed start vector (solve.h): the spectrum cg's default
 * ridge is chosen from (solve_ridge.c). */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>

#include "solve.h"
#include "util.h"

fi_solve_status fi_lanczos_extremes(const fi_oracle *o, int steps, uint64_t seed, double *lo,
                                    double *hi, int *done, fi_solve_error *err) {
  const int64_t P = o->P;
  if (steps > P) steps = (int)P;
  if (steps < 1) steps = 1;
  /* Plain three-term Lanczos in double: without reorthogonalisation the
   * Ritz values gain copies of converged ones, but the extreme ones still
   * converge to the extreme eigenvalues, from inside the spectrum; memory
   * stays three vectors whatever P. */
  double *q = fi_malloc(fi_mul_size(P, sizeof(double), "Lanczos")),
         *qp = fi_calloc((size_t)P, sizeof(double)),
         *wd = fi_malloc(fi_mul_size(P, sizeof(double), "Lanczos")),
         *al = fi_malloc(fi_mul_size(steps, sizeof(double), "Lanczos")),
         *be = fi_calloc((size_t)steps, sizeof(double));
  float *qf = fi_aligned(P, sizeof(float)), *wf = fi_aligned(P, sizeof(float));
  fi_rng rng;
  fi_rng_seed(&rng, seed);
  double n = 0;
  for (int64_t k = 0; k < P; k++) {
    q[k] = fi_rng_normal(&rng);
    n += q[k] * q[k];
  }
  n = sqrt(n);
  for (int64_t k = 0; k < P; k++) q[k] /= n;
  fi_solve_status st = FI_SOLVE_OK;
  int k = 0;
  double beta = 0, amax = 0;
  while (k < steps) {
    for (int64_t i = 0; i < P; i++) qf[i] = (float)q[i];
    fi_apply_full(o, 0, qf, wf);
    double a = 0;
    for (int64_t i = 0; i < P; i++) {
      wd[i] = (double)wf[i] - beta * qp[i];
      a += wd[i] * q[i];
    }
    if (!isfinite(a)) {
      st = fi_solve_fail(err, FI_SOLVE_NONFINITE, "the full-batch %s-vector product is not finite",
                         fi_oracle_name(o));
      break;
    }
    double b = 0;
    for (int64_t i = 0; i < P; i++) {
      wd[i] -= a * q[i];
      b += wd[i] * wd[i];
    }
    al[k++] = a;
    amax = fmax(amax, fabs(a));
    beta = sqrt(b);
    /* An invariant subspace: its eigenvalues are exact, nothing more to find. */
    if (k == steps || !(beta > 1e-12 * amax)) break;
    be[k - 1] = beta;
    for (int64_t i = 0; i < P; i++) {
      qp[i] = q[i];
      q[i] = wd[i] / beta;
    }
  }
  if (!st) {
    lapack_int info = LAPACKE_dstev(LAPACK_COL_MAJOR, 'N', k, al, be, NULL, 1);
    if (info != 0) fi_die("Lanczos: LAPACK dstev failed (info %d)", (int)info);
    *lo = al[0];
    *hi = al[k - 1];
    if (done) *done = k;
  }
  free(q);
  free(qp);
  free(wd);
  free(al);
  free(be);
  free(qf);
  free(wf);
  return st;
}
