/* curvature - K-FAC, EK-FAC or diagonal curvature fitted from training
 * gradient records (formats/curvature.md); the work is lib/curvature.c, the
 * file lib/curvature_file.c. */
#include "curvature.h"
#include "opts.h"
#include "util.h"

int main(int argc, char **argv) {
  const char *grads = NULL, *output = NULL;
  int method;
  const fi_opt opts[] = {
    FI_CHOICE("method", 0, &method, "ekfac", fi_curv_methods,
              "kfac: per layer A (x) G, eigendecomposed; ekfac: K-FAC's eigenbases with the eigenvalues "
              "refitted (a second pass: the gradients must be a file); diag: the diagonal empirical Fisher"),
    FI_PATH("grads", 0, &grads, "-", "training gradient records (default: standard input)",
            .metavar = "FILE"),
    FI_PATH("output", 'o', &output, NULL, "the curvature file written", .required = 1,
            .metavar = "CURV"),
    {0}};
  const fi_tool tool = {
    "curvature", "fit K-FAC, EK-FAC or diagonal curvature from training gradient records",
    "[--method kfac|ekfac|diag] [--grads FILE | < FILE] -o CURV", opts,
    "Reads layer-factor gradient records (a.NAME [r, in], delta.NAME [r, out], dense parts "
    "grad.PNAME, or whole grad [P]; formats/gradients.md) with no model file. Per layer, "
    "A = (1/N) sum_i sum_t abar abar^T (abar = a with a 1 appended for a bias) and G = (1/N) "
    "sum_i sum_t delta delta^T; dense parts get the diagonal (1/N) sum_i g^2. Memory does not "
    "grow with N. See formats/curvature.md."};
  fi_parse_options(&tool, argc, argv);
  fi_err e;
  fi_curv *c = fi_curv_fit(grads, (fi_curv_method)method, &e);
  if (!c) fi_opt_fail(&e);
  int nk = 0;
  for (int i = 0; i < c->nblocks; i++) nk += c->b[i].kind == FI_CBLOCK_KRON;
  fi_log("%lld records, P = %lld: %d Kronecker blocks, %d diagonal (%s)", (long long)c->n,
         (long long)c->P, nk, c->nblocks - nk, fi_curv_methods[method]);
  fi_curv_save(c, output);
  fi_done(c->n);
  fi_curv_free(c);
  return 0;
}
