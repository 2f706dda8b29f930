/* layer_embag.c - the mean embedding bag, bow's input layer: z = (1/n)
 * sum of the table rows E[t] over the example's n bucket ids t
 * (formats/model.md; the zero vector for an empty text). Linear in E and
 * with no input below it, so its gradient is the delta scattered back
 * onto the bag's rows, its R-forward the same mean over the direction's
 * rows, and it has no second-order terms. aux keeps 1/n per row. */
#include <cblas.h>
#include <string.h>
#include "layer.h"
#include "model_internal.h"

static int embag_declare(int64_t in, int64_t out, fi_param_decl *p) {
  p[0] = (fi_param_decl){"weight", 2, {in, out}};
  return 1;
}

/* rows N(0, 0.1^2) */
static void embag_init(const fi_layer *l, fi_rng *rng) {
  for (int64_t i = 0; i < l->numel[0]; i++) l->p[0][i] = (float)(0.1 * fi_rng_normal(rng));
}

static void embag_forward(const fi_lctx *c, const float *x, float *z) {
  const fi_examples *ex = c->ex;
  int64_t dim = c->l->out;
  for (int64_t i = 0; i < c->nb; i++) {
    int64_t j = c->rows[i];
    float *row = z + i * dim;
    if (ex->bag_m == c->m && j < ex->bag_n) { /* the same sums, done once */
      memcpy(row, ex->bag + j * dim, (size_t)dim * sizeof(float));
      c->aux[i] = ex->bag_invn[j];
    } else {
      c->aux[i] = fi_bow_bag(c->m, ex, j, row);
    }
  }
}

/* Table-sized block: rows of each example's buckets get alpha * (1/n_i) * src_i
 * (src [nb, dim]). */
static void scatter(const fi_lctx *c, const float *src, float alpha, float *blk) {
  const fi_examples *ex = c->ex;
  int64_t dim = c->l->out;
  for (int64_t i = 0; i < c->nb; i++) {
    int64_t j = c->rows[i];
    float s = alpha * c->aux[i];
    const float *r = src + i * dim;
    for (int64_t t = ex->rowptr[j]; t < ex->rowptr[j + 1]; t++) {
      float *e = blk + (int64_t)ex->tok[t] * dim;
      for (int64_t k = 0; k < dim; k++) e[k] += s * r[k];
    }
  }
}

static void embag_grad(const fi_lctx *c, const float *x, const float *d, float alpha, float l2,
                       const float *const *r, float *const *g) {
  memset(g[0], 0, (size_t)c->l->numel[0] * sizeof(float));
  scatter(c, d, alpha, g[0]);
  if (r) cblas_saxpy((int)c->l->numel[0], l2, r[0], 1, g[0], 1);
}

static void embag_grad_row(const fi_lctx *c, int64_t i, const float *x, const float *d, float l2,
                           const float *const *r, float *const *g) {
  float *ge = g[0];
  int64_t ne = c->l->numel[0], dim = c->l->out, j = c->rows[i];
  if (r)
    for (int64_t e = 0; e < ne; e++) ge[e] = l2 * r[0][e];
  else
    memset(ge, 0, (size_t)ne * sizeof(float));
  const float *row = d + i * dim;
  for (int64_t t = c->ex->rowptr[j]; t < c->ex->rowptr[j + 1]; t++) {
    float *e = ge + (int64_t)c->ex->tok[t] * dim;
    for (int64_t k = 0; k < dim; k++) e[k] += c->aux[i] * row[k];
  }
}

static void embag_rop(const fi_lctx *c, const float *x, const float *rx, const float *const *v,
                      float *rz) {
  const fi_examples *ex = c->ex;
  int64_t dim = c->l->out;
  for (int64_t i = 0; i < c->nb; i++) {
    int64_t j = c->rows[i];
    float *r = rz + i * dim;
    memset(r, 0, (size_t)dim * sizeof(float));
    for (int64_t t = ex->rowptr[j]; t < ex->rowptr[j + 1]; t++) {
      const float *e = v[0] + (int64_t)ex->tok[t] * dim;
      for (int64_t k = 0; k < dim; k++) r[k] += e[k];
    }
    for (int64_t k = 0; k < dim; k++) r[k] *= c->aux[i];
  }
}

static void embag_rop_grad(const fi_lctx *c, const float *x, const float *rx, const float *d,
                           const float *rd, float alpha, float l2, const float *const *v,
                           float *const *h) {
  embag_grad(c, x, rd, alpha, l2, v, h);
}

/* g_i.S_t = (1/n_i) sum over the bag of S_t[bucket] . d_i: sparse */
static void embag_scores(const fi_lctx *c, const float *x, const float *d, const float *const *s,
                         int64_t P, int T, float *scores) {
  const fi_examples *ex = c->ex;
  int64_t dim = c->l->out, nb = c->nb;
  for (int t = 0; t < T; t++) {
    const float *SE = s[0] + (int64_t)t * P;
    for (int64_t i = 0; i < nb; i++) {
      int64_t j = c->rows[i];
      const float *r = d + i * dim;
      double acc = 0;
      for (int64_t q = ex->rowptr[j]; q < ex->rowptr[j + 1]; q++) {
        const float *e = SE + (int64_t)ex->tok[q] * dim;
        for (int64_t k = 0; k < dim; k++) acc += (double)e[k] * r[k];
      }
      scores[(int64_t)t * nb + i] -= (float)(acc * c->aux[i]);
    }
  }
}

const fi_layer_kind fi_layer_embag = {
    .name = "embedding bag", .reads_examples = 1, .aux = 1, .declare = embag_declare,
    .init = embag_init, .forward = embag_forward, .grad = embag_grad,
    .grad_row = embag_grad_row, .rop = embag_rop, .rop_grad = embag_rop_grad,
    .scores = embag_scores};
