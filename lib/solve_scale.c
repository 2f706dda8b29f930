/* solve_scale.c - the scale of --scale auto: the largest eigenvalue of the
 * batch operators, by power iteration (solve.h, formats/ihvp.md). */
#include <math.h>
#include <stdlib.h>

#include "gemm.h"
#include "pool.h"
#include "solve.h"
#include "util.h"

typedef struct {
  const fi_oracle *o;
  int64_t batch;
  int iters;
  uint64_t seed;
  float **ws;
  int64_t **idx;
  double *eig;    /* per batch; NaN when a product was not finite */
} power_job;

static void power_job_run(void *arg, int thread, int64_t job) {
  power_job *J = arg;
  const int64_t P = J->o->P;
  float *x = J->ws[thread], *y = x + P;
  fi_rng rng;
  fi_rng_seed(&rng, fi_lissa_repeat_seed(J->seed ^ 0x5ca1ab1e5ca1ab1eULL, job));
  fi_draw_batch(&rng, J->o->N, J->batch, J->idx[thread]);
  for (int64_t k = 0; k < P; k++) x[k] = (float)fi_rng_normal(&rng);
  double n = fi_norm2(x, P), lam = 0;
  for (int it = 0; it < J->iters && n > 0; it++) {
    for (int64_t k = 0; k < P; k++) x[k] = (float)(x[k] / n);
    J->o->apply(J->o->ctx[thread], J->idx[thread], J->batch, x, y);
    n = fi_norm2(y, P); /* = ||C x|| for unit x: <= |lambda_max| */
    if (!isfinite(n)) {
      lam = NAN;
      break;
    }
    if (n > lam) lam = n;
    float *t = x;
    x = y;
    y = t;
  }
  J->eig[job] = lam;
}

double fi_top_eigenvalue(const fi_oracle *o, int64_t batch, int nbatches, int iters,
                         uint64_t seed) {
  const int64_t P = o->P;
  int nt = fi_oracle_threads(o);
  if (batch > o->N) batch = o->N;
  power_job J = {.o = o, .batch = batch, .iters = iters, .seed = seed};
  J.ws = fi_calloc(nt, sizeof *J.ws);
  J.idx = fi_calloc(nt, sizeof *J.idx);
  for (int t = 0; t < nt; t++) {
    J.ws[t] = fi_aligned(fi_mul_size(2, P, "power iteration"), sizeof(float));
    J.idx[t] = fi_malloc(fi_mul_size(batch, sizeof(int64_t), "power batch"));
  }
  J.eig = fi_calloc(nbatches, sizeof *J.eig);
  fi_pool_run(nt, nbatches, power_job_run, &J);
  double best = 0;
  for (int b = 0; b < nbatches; b++)
    if (!(J.eig[b] <= best)) best = J.eig[b]; /* NaN wins */
  for (int t = 0; t < nt; t++) {
    free(J.ws[t]);
    free(J.idx[t]);
  }
  free(J.ws);
  free(J.idx);
  free(J.eig);
  return best;
}

fi_solve_status fi_auto_scale(const fi_oracle *o, int64_t batch, int nbatches, int iters,
                              uint64_t seed, double *scale, fi_solve_error *err) {
  double t0 = fi_now();
  double top = fi_top_eigenvalue(o, batch, nbatches, iters, seed);
  if (isnan(top))
    return fi_solve_fail(err, FI_SOLVE_NONFINITE,
                         "the %s-vector product of a training batch is not finite",
                         fi_oracle_name(o));
  if (!(top > 0))
    return fi_solve_fail(err, FI_SOLVE_ZERO, "the batch %s looks zero (top eigenvalue %g)",
                         fi_oracle_name(o), top);
  *scale = FI_SCALE_SAFETY * top;
  fi_log("scale auto: largest eigenvalue of the batch %s found %.6g (%d batches of %lld, %.2fs) -> scale %.6g",
         fi_oracle_name(o), top, nbatches, (long long)batch, fi_now() - t0, *scale);
  return FI_SOLVE_OK;
}
