/* solve_hvp.c - method hvp: no solve, the full-batch product C v itself,
 * one vector at a time (solve.h; formats/ihvp.md, "--method hvp"). */
#include "solve.h"

static fi_solve_status product(const fi_oracle *o, const fi_solve_opts *opt, int64_t m,
                               const float *V, float *S, const char *const *ids,
                               fi_solve_info *info, fi_solve_error *err) {
  for (int64_t s = 0; s < m; s++) fi_apply_full(o, 0, V + s * o->P, S + s * o->P);
  if (info) *info = (fi_solve_info){.sum_of = 1};
  return FI_SOLVE_OK;
}

const fi_solver fi_solver_hvp = {"hvp", product, NULL, .solves = 0};
