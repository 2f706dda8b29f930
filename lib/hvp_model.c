/* hvp_model.c - the oracle of model_oracle.h over a model and its training set,
 * for the Hessian (fi_hvp) or the Gauss-Newton matrix (fi_ggnvp): one fi_ws
 * per thread; batches larger than `chunk` (the full batch of CG and exact)
 * are evaluated chunk by chunk and combined with weights nb_c/nb, so the
 * workspace never holds more than `chunk` examples. */
#include <stdlib.h>
#include <string.h>

#include "model_oracle.h"
#include "util.h"

typedef void (*product_fn)(const fi_model *m, fi_ws *ws, const fi_psel *ps,
                           const fi_examples *ex, const int64_t *idx, int64_t nb,
                           int64_t k, const float *V, float *out);
static const product_fn products[] = {[FI_CURV_HESSIAN] = fi_hvp_many, [FI_CURV_GGN] = fi_ggnvp_many};

typedef struct {
  product_fn product;
  const fi_model *m;
  const fi_psel *ps;
  const fi_examples *ex;
  fi_ws *ws;
  int64_t chunk;
  int64_t *idx;   /* [chunk] */
  float *tmp;     /* [kcap, P] */
  double *acc;    /* [kcap, P] */
  int64_t kcap;   /* vectors tmp and acc hold (grown by apply_many) */
} mctx;

struct fi_model_oracle {
  int nthreads;
  mctx *c;
  void **ptrs;
};

static void model_hvp_many(void *vctx, const int64_t *idx, int64_t nb, int64_t k, const float *V,
                           float *HV) {
  mctx *c = vctx;
  const int64_t P = c->ps->size;
  if (nb <= c->chunk) {
    c->product(c->m, c->ws, c->ps, c->ex, idx, nb, k, V, HV);
    return;
  }
  if (k > c->kcap) { /* grow-only: the dense operator's blocks of columns */
    free(c->tmp);
    free(c->acc);
    c->tmp = fi_aligned(fi_mul_size(k, P, "HVP block"), sizeof *c->tmp);
    c->acc = fi_malloc(fi_mul_size(fi_mul_size(k, P, "HVP block"), sizeof *c->acc, "HVP sum"));
    c->kcap = k;
  }
  const int64_t kP = k * P;
  memset(c->acc, 0, kP * sizeof *c->acc);
  for (int64_t off = 0; off < nb; off += c->chunk) {
    int64_t n = nb - off < c->chunk ? nb - off : c->chunk;
    for (int64_t i = 0; i < n; i++) c->idx[i] = idx ? idx[off + i] : off + i;
    /* The L2 term rides along in every chunk with weight n/nb: sums to one. */
    c->product(c->m, c->ws, c->ps, c->ex, c->idx, n, k, V, c->tmp);
    double w = (double)n / (double)nb;
    for (int64_t j = 0; j < kP; j++) c->acc[j] += w * c->tmp[j];
  }
  for (int64_t j = 0; j < kP; j++) HV[j] = (float)c->acc[j];
}

static void model_hvp(void *vctx, const int64_t *idx, int64_t nb, const float *v, float *Hv) {
  model_hvp_many(vctx, idx, nb, 1, v, Hv);
}

fi_model_oracle *fi_model_oracle_new(const fi_model *m, const fi_psel *ps,
                                     const fi_examples *train, fi_curvature curv,
                                     int nthreads, int64_t chunk, fi_oracle *out) {
  if (curv != FI_CURV_HESSIAN && curv != FI_CURV_GGN) fi_die("internal: curvature kind %d", (int)curv);
  if (nthreads < 1) nthreads = 1;
  if (chunk < 1) chunk = 1;
  fi_model_oracle *mo = fi_calloc(1, sizeof *mo);
  mo->nthreads = nthreads;
  mo->c = fi_calloc(nthreads, sizeof *mo->c);
  mo->ptrs = fi_calloc(nthreads, sizeof *mo->ptrs);
  for (int t = 0; t < nthreads; t++) {
    mctx *c = &mo->c[t];
    c->product = products[curv];
    c->m = m;
    c->ps = ps;
    c->ex = train;
    c->ws = fi_ws_new(m);
    c->chunk = chunk;
    c->idx = fi_malloc(fi_mul_size(chunk, sizeof *c->idx, "HVP chunk"));
    c->tmp = fi_aligned(ps->size, sizeof *c->tmp);
    c->acc = fi_malloc(fi_mul_size(ps->size, sizeof *c->acc, "HVP sum"));
    c->kcap = 1;
    mo->ptrs[t] = c;
  }
  *out = (fi_oracle){.apply = model_hvp, .apply_many = model_hvp_many, .ctx = mo->ptrs, .nthreads = nthreads,
                     .P = ps->size, .N = fi_examples_count(train),
                     .name = curv == FI_CURV_GGN ? "Gauss-Newton matrix" : "Hessian"};
  return mo;
}

void fi_model_oracle_free(fi_model_oracle *mo) {
  if (!mo) return;
  for (int t = 0; t < mo->nthreads; t++) {
    fi_ws_free(mo->c[t].ws);
    free(mo->c[t].idx);
    free(mo->c[t].tmp);
    free(mo->c[t].acc);
  }
  free(mo->c);
  free(mo->ptrs);
  free(mo);
}
