/* curvature.h - curvature fitted from a stream of training gradient records
 * (formats/curvature.md), with no model file:
 *   kfac  per factored layer, A = (1/N) sum_i sum_t abar abar^T (abar = a with
 *         a 1 appended for a bias) and G = (1/N) sum_i sum_t delta delta^T,
 *         eigendecomposed: C_layer ~ (Q_G diag(eigG) Q_G^T) (x) (Q_A diag(eigA) Q_A^T);
 *   ekfac the same eigenbases, with the eigenvalues refitted in a second
 *         pass: eig[o,j] = (1/N) sum_i ((Q_G^T D_i Q_A)[o,j])^2, D_i the
 *         example's [out, in+b] gradient (George et al. 2018);
 *   diag  the diagonal empirical Fisher (1/N) sum_i g_i^2 of every parameter.
 * Dense parts (grad.PNAME) get the diagonal under every method.
 * Fitting is curvature.c, the file curvature_file.c, the inverse
 * products (ihvp --curvature) curvature_inverse.c. */
#ifndef FI_CURVATURE_H
#define FI_CURVATURE_H
#include <stdint.h>

#include "grad_group.h"
#include "grad_records.h"
#include "ihvp_records.h"
#include "stream.h"
#include "util.h"

typedef enum { FI_CURV_KFAC, FI_CURV_EKFAC, FI_CURV_DIAG } fi_curv_method;
extern const char *const fi_curv_methods[]; /* "kfac", "ekfac", "diag", NULL */

typedef enum { FI_CBLOCK_KRON, FI_CBLOCK_DIAG } fi_cblock_kind;

/* One block of the dense vector's parameters. */
typedef struct {
  char *name;             /* layer NAME (kron) or parameter name (diag) */
  fi_cblock_kind kind;
  /* kron: the layer's weight [out, in] at off_w (or -1) and bias [out] at
   * off_b (or -1): the block matrix is [out, k], k = in (with weight) + 1
   * (with bias), the bias its last column. */
  int64_t in, out, k, off_w, off_b;
  float *A, *QA, *eigA;   /* [k, k], [k, k] (columns are eigenvectors), [k] */
  float *G, *QG, *eigG;   /* [out, out], [out, out], [out] */
  float *eig;             /* ekfac: [out, k]; NULL for kfac (eigG eigA^T) */
  /* diag: numel values at off */
  int64_t off, numel;
  float *diag;
} fi_cblock;

typedef struct {
  fi_curv_method method;
  int64_t n;              /* training records fitted */
  int64_t P;              /* length of the dense vector */
  char *params;           /* the records' params, or NULL (whole dense records) */
  int nblocks;
  fi_cblock *b;
} fi_curv;

/* ---- fitting (curvature.c) ----
 * Reads the training gradient records of `path` (NULL or "-": standard
 * input) once (kfac, diag) or twice (ekfac: the second pass seeks back to
 * where the first began, so a pipe is refused with e set, kind FI_ERR_USAGE, setting
 * "method"). Memory is independent of the number of records. Dies naming
 * the record on a bad one, or when there is none. */
fi_curv *fi_curv_fit(const char *path, fi_curv_method method, fi_err *e);
void fi_curv_free(fi_curv *c);

/* ---- the file (curvature_file.c, formats/curvature.md) ---- */
void fi_curv_save(const fi_curv *c, const char *path);
fi_curv *fi_curv_load(const char *path);

/* ---- inverse products (curvature_inverse.c) ----
 * The ridge lambda of each block: shift (absolute, when shift >= 0), else
 * damping x the block's mean eigenvalue (Kronfluence's heuristic; for a
 * diagonal block the mean of its diagonal). */
typedef struct {
  double damping;
  double shift;           /* >= 0: absolute; < 0: relative damping */
  int kfac;               /* 1: a Kronecker block's mean eigenvalue is K-FAC's (mean eigA x mean
                           * eigG) even in an ekfac file (factored Tikhonov uses A and G) */
} fi_curv_ridge;
/* lambda per block into lam[0..nblocks). */
void fi_curv_lambdas(const fi_curv *c, const fi_curv_ridge *rg, double *lam);
/* S [m, P] = (C + lambda)^-1 V [m, P] block by block: for a kron block
 * Q_G [(Q_G^T V Q_A) / (eig + lambda)] Q_A^T, as GEMMs over all m vectors;
 * a diagonal block divides by diag + lambda. An eigenvalue with eig + lambda
 * <= 0 (lambda 0 on a direction no gradient touches) contributes nothing
 * (pseudo-inverse). */
typedef struct fi_curv_ws fi_curv_ws;
fi_curv_ws *fi_curv_ws_new(const fi_curv *c);
void fi_curv_ws_free(fi_curv_ws *ws);
void fi_curv_inverse(const fi_curv *c, const double *lam, fi_curv_ws *ws, int64_t m,
                     const float *V, float *S);
/* The same where the m vectors' factored layers are the rows of fg
 * (grad_group.h; NULL: V is whole): their values in V are not read. A kron
 * block on such a layer is rotated from the rows, Q_G^T V Q_A =
 * (Delta Q_G)^T (Abar Q_A), O(r (k^2 + out^2)) per vector instead of
 * O(out k (out + k)); a diagonal block on one densifies that part. fg's
 * layout must have passed fi_curv_check_layout. */
void fi_curv_inverse_group(const fi_curv *c, const double *lam, fi_curv_ws *ws, int64_t m,
                           const float *V, const fi_grad_group *fg, float *S);
/* Whether vectors of length P over params (NULL: not known) are over the
 * curvature's parameters: 0, or -1 with e (FI_ERR_DATA, setting
 * "curvature"). */
int fi_curv_check_vectors(const fi_curv *c, int64_t P, const char *params, fi_err *e);
/* The same, and with the vectors' layout L (NULL: not known) each block
 * against it: a Kronecker block's weight and bias at the layout's offsets
 * of NAME.weight / NAME.bias, of its in and out where L factors them; a
 * diagonal block at its part's offset and size. Equal P and params string
 * do not suffice: in 5, out 4 and in 3, out 6 both give P = 24. */
int fi_curv_check_layout(const fi_curv *c, const fi_grad_layout *L, int64_t P, const char *params,
                         fi_err *e);

/* ---- factored-Tikhonov K-FAC (curvature_factored.c) ----
 * For each layer-factor record of r (kfac or ekfac file: A and G are used,
 * not ekfac's eigenvalues), the ihvp record with s in factored form
 * (ihvp_records.h, fi_ihvp_write_factored): per layer s_a = abar (A +
 * gamma_A)^-1, s_delta = delta (G + gamma_G)^-1, gamma_A = pi sqrt(lambda),
 * gamma_G = sqrt(lambda) / pi, pi^2 = (tr A / k) / (tr G / out); dense parts
 * divided by diag + lambda. Returns the records written, or -1 with e set
 * (setting "curvature") when they are not over the curvature's params;
 * dies naming a record that is not a layer-factor record. */
int64_t fi_curv_factored_s(const fi_curv *c, const double *lam, fi_reader *r, fi_writer *w,
                           const fi_ihvp_curv_meta *cm, fi_err *e);

#endif
