/* solve.c - the solver registry and what the solver files share
 * (solve.h). */
#include "solve.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const fi_solver *const fi_solvers[] = {&fi_solver_lissa, &fi_solver_cg, &fi_solver_exact,
                                       &fi_solver_hvp, &fi_solver_identity, NULL};

const fi_solver *fi_solver_find(const char *name) {
  for (int i = 0; fi_solvers[i]; i++)
    if (!strcmp(fi_solvers[i]->name, name)) return fi_solvers[i];
  return NULL;
}

const fi_solver *fi_solver_auto(int64_t N, int64_t P, int64_t max_p, double seconds, double *est) {
  *est = (FI_EXACT_SECONDS * (double)N + FI_EXACT_EIG_SECONDS * (double)P) * (double)P * (double)P;
  return P <= max_p && *est <= seconds ? &fi_solver_exact : &fi_solver_lissa;
}

fi_solve_status fi_solve_fail(fi_solve_error *err, fi_solve_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return err->status = st;
}

uint64_t fi_lissa_repeat_seed(uint64_t seed, int64_t r) {
  /* splitmix64 finaliser of (seed, r): distinct, well-mixed streams. */
  uint64_t z = seed ^ (0x9e3779b97f4a7c15ULL * ((uint64_t)r + 1));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void fi_draw_batch(fi_rng *rng, int64_t N, int64_t B, int64_t *idx) {
  /* Uniform with replacement: each step is an unbiased sample of C. */
  for (int64_t b = 0; b < B; b++) idx[b] = (int64_t)fi_rng_below(rng, (uint64_t)N);
}

void fi_apply_full(const fi_oracle *o, int thread, const float *v, float *out) {
  o->apply(o->ctx[thread], NULL, o->N, v, out);
}

int fi_solve_set_shift(const fi_solver *sv, fi_solve_common *c, fi_err *e) {
  if (!sv->solves) return 0; /* a product: no shift */
  if (c->absolute) {
    if (!isfinite(c->shift) || c->shift < 0)
      return fi_err_set(e, FI_ERR_USAGE, "shift", "must be a finite number >= 0 (got %g)", c->shift);
    c->damping = c->scale > 0 ? c->shift / c->scale : 0;
  } else {
    if (!isfinite(c->damping) || c->damping < 0)
      return fi_err_set(e, FI_ERR_USAGE, "damping", "must be a finite number >= 0 (got %g)", c->damping);
    c->shift = c->damping * c->scale;
  }
  if (sv->recursion) {
    if (!(c->scale > 0) || !isfinite(c->scale))
      return fi_err_set(e, FI_ERR_USAGE, "scale", "%s needs a positive scale (got %g)", sv->name, c->scale);
    if (c->damping >= 1)
      return fi_err_set(e, FI_ERR_USAGE, c->absolute ? "shift" : "damping",
                        "%s's step contracts only when shift < scale (shift %g, scale %g, damping %g)",
                        sv->name, c->shift, c->scale, c->damping);
  }
  return 0;
}

const char *fi_vector_name(char *buf, size_t len, const char *const *ids, int64_t i) {
  if (ids) snprintf(buf, len, "record '%.80s'", ids[i]);
  else snprintf(buf, len, "vector %lld", (long long)i);
  return buf;
}
