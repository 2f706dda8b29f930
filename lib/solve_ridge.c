/* solve_ridge.c - the default ridge, --damping auto: what each method
 * needs and no more (solve.h, formats/ihvp.md "The default ridge"). The
 * spectra are probed by the methods' own files (exact: its
 * eigendecomposition; cg: Lanczos, solve_lanczos.c). */
#include <math.h>

#include "solve.h"
#include "util.h"

double fi_ridge_psd_shift(double lo, double hi) {
  /* Eigenvalues of a float-product matrix are known to ~FI_EXACT_RCOND of
   * the largest: a negative one below that is a zero, not negative curvature. */
  return lo < -FI_EXACT_RCOND * fmax(fabs(lo), fabs(hi)) ? -lo : 0;
}

double fi_cg_kappa(int64_t max_iter, double tol) {
  double t = fmax(tol, 1e-15), r = 2.0 * (double)max_iter / log(2.0 / t);
  return fmax(r * r, 2.0);
}

fi_solve_status fi_solve_auto_ridge(const fi_solver *sv, const fi_oracle *o, fi_solve_opts *opt,
                                    fi_solve_error *err) {
  fi_solve_common *c = &opt->c;
  if (!c->auto_ridge || !sv->solves) return FI_SOLVE_OK;
  if (sv->recursion) { /* LiSSA's step contracts by 1 - damping: it needs a ridge */
    c->absolute = 0;
    c->damping = FI_LISSA_DAMPING;
    return FI_SOLVE_OK;
  }
  c->absolute = 1;
  c->shift = 0;
  if (!o || sv->no_oracle || !sv->ridge) return FI_SOLVE_OK;
  return sv->ridge(o, opt, err);
}

int fi_solve_needs_scale(const fi_solver *sv, const fi_solve_common *c) {
  return sv->solves && (sv->recursion || (!c->absolute && !c->auto_ridge));
}
