/* solve_quality.c - the measured quality of a solve (solve.h,
 * formats/ihvp.md "Quality"): the relative residual of each answer from
 * one product with the same operator, over the training set or an evenly
 * spaced sample of it. */
#include <math.h>
#include <stdlib.h>

#include "gemm.h"
#include "pool.h"
#include "solve.h"
#include "util.h"

typedef struct {
  const fi_oracle *o;
  double shift;
  const int64_t *idx;  /* the sample, or NULL: all N */
  int64_t n;
  const float *V, *S;
  float **ws;          /* [P] per thread */
  double *res;
} resid_job;

static void resid_run(void *arg, int thread, int64_t i) {
  resid_job *R = arg;
  const int64_t P = R->o->P;
  const float *v = R->V + i * P, *s = R->S + i * P;
  float *Cs = R->ws[thread];
  R->o->apply(R->o->ctx[thread], R->idx, R->n, s, Cs);
  double rr = 0;
  for (int64_t k = 0; k < P; k++) {
    double r = (double)Cs[k] + R->shift * s[k] - v[k];
    rr += r * r;
  }
  double vn = fi_norm2(v, P);
  /* A zero v has the answer s = 0: residual 0 for it, 1 for anything else. */
  R->res[i] = vn > 0 ? sqrt(rr) / vn : rr > 0;
}

int64_t fi_solve_residuals(const fi_oracle *o, double shift, int64_t max_n, int64_t m,
                           const float *V, const float *S, double *res) {
  const int64_t P = o->P, N = o->N;
  int64_t n = N, *idx = NULL;
  if (max_n > 0 && N > max_n) {
    /* Evenly spaced: every (N/n)-th example, the same for every run. */
    n = max_n;
    idx = fi_malloc(fi_mul_size(n, sizeof *idx, "residual sample"));
    for (int64_t k = 0; k < n; k++) idx[k] = (int64_t)((double)k * (double)N / (double)n);
  }
  int nt = fi_oracle_threads(o);
  resid_job R = {.o = o, .shift = shift, .idx = idx, .n = n, .V = V, .S = S, .res = res};
  R.ws = fi_calloc(nt, sizeof *R.ws);
  for (int t = 0; t < nt; t++) R.ws[t] = fi_aligned(P, sizeof(float));
  fi_pool_run(nt, m, resid_run, &R);
  for (int t = 0; t < nt; t++) free(R.ws[t]);
  free(R.ws);
  free(idx);
  return n;
}

double fi_repeat_spread(const double *acc, double ss, int64_t T, int64_t P) {
  double mm = 0;
  for (int64_t k = 0; k < P; k++) mm += (acc[k] / (double)T) * (acc[k] / (double)T);
  double dev = ss - (double)T * mm; /* sum_r ||x_r - mean||^2 */
  if (!(mm > 0)) return 0; /* only for v = 0, whose every repeat is 0 */
  return sqrt(fmax(dev, 0) / (double)(T - 1)) / sqrt(mm);
}
