/* model_compute.c - the passes over a model's layer list (layer.h):
 * batched forward/backward, per-example gradients, exact Hessian-vector
 * products (Pearlmutter's R-operator), Gauss-Newton-vector products and
 * factored influence scores. The layer kinds do the per-layer math; this
 * file runs them in order and owns the softmax cross-entropy head.
 *
 * Notation (per example, layer l = 0..n-1, row-major batches):
 *   a_l = input of layer l, z_l its output, a_{l+1} = f_l(z_l) (f = the
 *   layer's activation, or none), p = softmax(z_{n-1})
 *   d_l = dLoss/dz_l (unscaled, per example), da_l = dLoss/da_l
 * Backward: d_{n-1} = p - onehot(y); da_l = backward_l(d_l),
 *   d_{l-1} = f'(z_{l-1}) da_l.
 * R-operator along v (zero outside the selected parameters), from the
 * lowest selected layer up (below it R(a) = 0):
 *   R(z_l) = rop_l(a_l, R(a_l), v), R(a_{l+1}) = f'(z_l) R(z_l)
 *   R(d_{n-1}) = (diag p - p p^T) R(z_{n-1})
 * Hessian:  R(da_l) = rop_backward_l, R(d_{l-1}) = f' R(da_l) + f'' R(z_{l-1}) da_l,
 *   H v = rop_grad_l (mean over the batch, + l2 v on selected weights).
 * Gauss-Newton: G v = J^T (diag p - p p^T) J v is the ordinary backward
 *   pass and gradient with R(d_{n-1}) as the delta: no second-order terms,
 *   so a layer kind brings it with its backward and grad. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "model_internal.h"
#include "util.h"

struct fi_ws {
  int64_t cap;                      /* batch capacity */
  int n;                            /* layers */
  int64_t w[FI_MAX_LIST + 1];       /* w[l] = width of a_l; w[n] = C */
  int dense_in;                     /* layer 0 reads a dense input x */
  float *a[FI_MAX_LIST + 1];        /* a[0] gathered x, a[1..n-1] hidden, a[n] probs */
  const float *in0;                 /* layer-0 input actually used (a[0] or ex->x) */
  float *d[FI_MAX_LIST];            /* [nb, w[l+1]] */
  float *da[FI_MAX_LIST];           /* [nb, w[l]] where an activation lies below a_l */
  float *ra[FI_MAX_LIST + 1];       /* R(a_l); ra[n] = R(logits) */
  float *rd[FI_MAX_LIST];
  float *rda;                       /* [nb, max width]: R(da_l) */
  float *aux[FI_MAX_LIST];          /* the layers' per-row values */
  double *loss;                     /* [nb] */
  int32_t *lab;
  int64_t *rows;                    /* example index of each batch row */
  fi_scratch scratch;
  double t_pass, t_scores;          /* fi_ws_times */
};

/* ---- workspace ---- */

fi_ws *fi_ws_new(const fi_model *m) {
  fi_ws *ws = fi_calloc(1, sizeof *ws);
  ws->n = m->nlayers;
  for (int l = 0; l < m->nlayers; l++) ws->w[l] = m->layers[l].in;
  ws->w[m->nlayers] = m->layers[m->nlayers - 1].out;
  ws->dense_in = !m->layers[0].kind->reads_examples;
  return ws;
}

static void ws_release(fi_ws *ws) {
  for (int l = 0; l <= FI_MAX_LIST; l++) {
    free(ws->a[l]);
    free(ws->ra[l]);
    ws->a[l] = ws->ra[l] = NULL;
  }
  for (int l = 0; l < FI_MAX_LIST; l++) {
    free(ws->d[l]);
    free(ws->rd[l]);
    free(ws->da[l]);
    free(ws->aux[l]);
    ws->d[l] = ws->rd[l] = ws->da[l] = ws->aux[l] = NULL;
  }
  free(ws->rda);
  free(ws->loss);
  free(ws->lab);
  free(ws->rows);
  ws->rda = NULL;
  ws->loss = NULL;
  ws->lab = NULL;
  ws->rows = NULL;
}

void fi_ws_free(fi_ws *ws) {
  if (!ws) return;
  ws_release(ws);
  free(ws->scratch.buf[0]);
  free(ws->scratch.buf[1]);
  free(ws);
}

static float *zalloc(int64_t n) {
  float *p = fi_aligned((size_t)(n > 0 ? n : 1), sizeof(float));
  memset(p, 0, (size_t)(n > 0 ? n : 1) * sizeof(float));
  return p;
}

static void ws_prepare(fi_ws *ws, const fi_model *m, int64_t nb) {
  int same = ws->n == m->nlayers && ws->dense_in == !m->layers[0].kind->reads_examples &&
             ws->w[m->nlayers] == m->layers[m->nlayers - 1].out;
  for (int l = 0; same && l < m->nlayers; l++) same = ws->w[l] == m->layers[l].in;
  if (!same) fi_die("internal: workspace used with a model of another shape");
  if (nb < 1) fi_die("internal: empty batch");
  if (nb <= ws->cap) return;
  ws_release(ws);
  int64_t cap = ws->cap ? ws->cap : 1;
  while (cap < nb) cap *= 2;
  int n = m->nlayers;
  int64_t maxw = 0;
  if (ws->dense_in) ws->a[0] = zalloc(cap * ws->w[0]);
  for (int l = 1; l <= n; l++) {
    ws->a[l] = zalloc(cap * ws->w[l]);
    ws->ra[l] = zalloc(cap * ws->w[l]);
    if (l < n && ws->w[l] > maxw) maxw = ws->w[l];
  }
  for (int l = 0; l < n; l++) {
    ws->d[l] = zalloc(cap * ws->w[l + 1]);
    ws->rd[l] = zalloc(cap * ws->w[l + 1]);
    if (l > 0 && m->layers[l - 1].act) ws->da[l] = zalloc(cap * ws->w[l]);
    if (m->layers[l].kind->aux) ws->aux[l] = zalloc(cap * m->layers[l].kind->aux);
  }
  ws->rda = zalloc(cap * maxw);
  ws->loss = fi_calloc((size_t)cap, sizeof(double));
  ws->lab = fi_calloc((size_t)cap, sizeof(int32_t));
  ws->rows = fi_calloc((size_t)cap, sizeof(int64_t));
  ws->cap = cap;
}

/* Where the delta passed down by layer l lands: straight in d[l-1] when no
 * activation lies between (no copy), else in da[l]; the same for R. */
static float *dx_buf(const fi_model *m, fi_ws *ws, int l) {
  return m->layers[l - 1].act ? ws->da[l] : ws->d[l - 1];
}
static float *rdx_buf(const fi_model *m, fi_ws *ws, int l) {
  return m->layers[l - 1].act ? ws->rda : ws->rd[l - 1];
}

static const float *layer_in(const fi_ws *ws, int l) { return l ? ws->a[l] : ws->in0; }

static fi_lctx lctx(const fi_model *m, fi_ws *ws, const fi_examples *ex, int64_t nb, int l) {
  return (fi_lctx){.l = &m->layers[l], .m = m, .ex = ex, .rows = ws->rows, .nb = nb,
                   .aux = ws->aux[l], .scratch = &ws->scratch};
}

/* ---- selection map ---- */

typedef struct {
  int64_t off[FI_MAX_LIST][FI_LAYER_PARAMS]; /* offsets in the vector, -1 = not selected */
  int any[FI_MAX_LIST];                      /* some parameter of the layer selected */
  int lmin;                                  /* lowest layer that backprop must reach */
} selmap;

static void sel_build(const fi_model *m, const fi_psel *ps, selmap *s) {
  for (int l = 0; l < m->nlayers; l++) {
    s->any[l] = 0;
    for (int j = 0; j < FI_LAYER_PARAMS; j++) s->off[l][j] = -1;
  }
  s->lmin = m->nlayers;
  int64_t off = 0;
  if (ps->n < 1 || ps->n > m->np) fi_die("internal: bad parameter selection");
  for (int j = 0; j < ps->n; j++) {
    int i = ps->idx[j];
    if (i < 0 || i >= m->np || (j > 0 && i <= ps->idx[j - 1]) || ps->off[j] != off)
      fi_die("internal: parameter selection does not match the model");
    off += m->pnumel[i];
    int l = m->powner[i];
    s->off[l][m->pslot[i]] = ps->off[j];
    s->any[l] = 1;
    if (l < s->lmin) s->lmin = l;
  }
  if (off != ps->size) fi_die("internal: parameter selection size does not match the model");
}

/* Layer l's blocks of a selected vector (NULL where not selected). */
static void blocks(const selmap *s, int l, const float *vec, const float **b) {
  for (int j = 0; j < FI_LAYER_PARAMS; j++) b[j] = s->off[l][j] >= 0 ? vec + s->off[l][j] : NULL;
}
static void wblocks(const selmap *s, int l, float *vec, float **b) {
  for (int j = 0; j < FI_LAYER_PARAMS; j++) b[j] = s->off[l][j] >= 0 ? vec + s->off[l][j] : NULL;
}

/* ---- forward ---- */

/* Runs the batch forward; fills ws->a, ws->loss (per example), ws->lab.
 * need_label: die on an unlabelled example (gradients need the label).
 * Returns the mean loss over the labelled examples (NaN if none). */
static double forward(const fi_model *m, fi_ws *ws, const fi_examples *ex, const int64_t *idx,
                      int64_t nb, int need_label) {
  fi_model_check_examples(m, ex);
  ws_prepare(ws, m, nb);
  for (int64_t i = 0; i < nb; i++) {
    int64_t j = idx ? idx[i] : i;
    if (j < 0 || j >= ex->n)
      fi_die("internal: example index %lld out of range (have %lld)", (long long)j,
             (long long)ex->n);
    ws->rows[i] = j;
    ws->lab[i] = ex->labels[j];
    if (need_label && ws->lab[i] < 0)
      fi_die("example '%s' has no label (gradients need one)", ex->ids[j]);
  }
  int n = m->nlayers;
  int64_t d0 = ws->w[0];
  if (!ws->dense_in) {
    ws->in0 = NULL; /* the input layer reads the examples */
  } else if (fi_examples_rows_elsewhere(ex)) {
    fi_examples_rows(ex, ws->rows, nb, ws->a[0]); /* rows in a file or the stream: read the batch's */
    ws->in0 = ws->a[0];
  } else if (!idx) {
    ws->in0 = ex->x; /* rows 0..nb-1 are already a contiguous batch */
  } else {
    for (int64_t i = 0; i < nb; i++)
      memcpy(ws->a[0] + i * d0, ex->x + ws->rows[i] * d0, (size_t)d0 * sizeof(float));
    ws->in0 = ws->a[0];
  }
  for (int l = 0; l < n; l++) {
    const fi_layer *L = &m->layers[l];
    fi_lctx c = lctx(m, ws, ex, nb, l);
    L->kind->forward(&c, layer_in(ws, l), ws->a[l + 1]);
    if (L->act) L->act->apply(ws->a[l + 1], nb * L->out);
  }
  /* softmax in place; the loss from the logits in double */
  int64_t C = ws->w[n];
  double tot = 0;
  int64_t nlab = 0;
  for (int64_t i = 0; i < nb; i++) {
    float *z = ws->a[n] + i * C;
    double mx = z[0];
    for (int64_t c = 1; c < C; c++)
      if (z[c] > mx) mx = z[c];
    double s = 0;
    for (int64_t c = 0; c < C; c++) s += exp((double)z[c] - mx);
    double lse = mx + log(s);
    int32_t y = ws->lab[i];
    ws->loss[i] = y >= 0 ? lse - (double)z[y] : NAN;
    if (y >= 0) {
      tot += ws->loss[i];
      nlab++;
    }
    for (int64_t c = 0; c < C; c++) z[c] = (float)exp((double)z[c] - lse);
  }
  return nlab ? tot / (double)nlab : NAN;
}

/* ---- backward ---- */

/* Passes the top delta D[n-1] down to D[lmin] through the layers and the
 * activations (f' only): D = ws->d (the loss gradient, da[l] kept for the
 * R pass) or ws->rd (Gauss-Newton). */
static void pass_down(const fi_model *m, fi_ws *ws, const fi_examples *ex, int64_t nb, int lmin,
                      float **D) {
  for (int l = m->nlayers - 1; l > lmin; l--) {
    fi_lctx c = lctx(m, ws, ex, nb, l);
    float *dx = D == ws->rd ? rdx_buf(m, ws, l) : dx_buf(m, ws, l);
    m->layers[l].kind->backward(&c, D[l], dx);
    const fi_activation *f = m->layers[l - 1].act;
    if (f) f->backward(ws->a[l], dx, D[l - 1], nb * m->layers[l].in);
  }
}

/* d[l] for l >= lmin (and da[l] for l > lmin where an activation lies below) */
static void backward(const fi_model *m, fi_ws *ws, const fi_examples *ex, int64_t nb, int lmin) {
  int n = m->nlayers;
  int64_t C = ws->w[n];
  float *dL = ws->d[n - 1];
  memcpy(dL, ws->a[n], (size_t)(nb * C) * sizeof(float));
  for (int64_t i = 0; i < nb; i++) dL[i * C + ws->lab[i]] -= 1.0f;
  pass_down(m, ws, ex, nb, lmin, ws->d);
}

/* g (selected vector) = alpha * sum_i (row i's gradient with delta D),
 * plus on selected weights l2 * v when v is given, else l2 * w when with_l2. */
static void grad_accum(const fi_model *m, fi_ws *ws, const selmap *s, const fi_examples *ex,
                       int64_t nb, float *const *D, float alpha, int with_l2, const float *v,
                       float *g) {
  for (int l = 0; l < m->nlayers; l++) {
    if (!s->any[l]) continue;
    const fi_layer *L = &m->layers[l];
    fi_lctx c = lctx(m, ws, ex, nb, l);
    float *gb[FI_LAYER_PARAMS];
    const float *vb[FI_LAYER_PARAMS];
    wblocks(s, l, g, gb);
    if (v) blocks(s, l, v, vb);
    const float *const *r = v ? vb : with_l2 ? (const float *const *)L->p : NULL;
    L->kind->grad(&c, layer_in(ws, l), D[l], alpha, (float)m->l2, r, gb);
  }
}

double fi_forward(const fi_model *m, fi_ws *ws, const fi_examples *ex, const int64_t *idx,
                  int64_t nb, float *probs, float *emb) {
  double loss = forward(m, ws, ex, idx, nb, 0);
  int n = m->nlayers;
  if (probs) memcpy(probs, ws->a[n], (size_t)(nb * ws->w[n]) * sizeof(float));
  if (emb) memcpy(emb, layer_in(ws, n - 1), (size_t)(nb * ws->w[n - 1]) * sizeof(float));
  return loss;
}

double fi_grad_mean(const fi_model *m, fi_ws *ws, const fi_psel *ps, const fi_examples *ex,
                    const int64_t *idx, int64_t nb, int with_l2, float *g) {
  selmap s;
  sel_build(m, ps, &s);
  double loss = forward(m, ws, ex, idx, nb, 1);
  backward(m, ws, ex, nb, s.lmin);
  grad_accum(m, ws, &s, ex, nb, ws->d, 1.0f / (float)nb, with_l2, NULL, g);
  return loss;
}

int fi_argmax(const float *p, int n) {
  int best = 0;
  for (int c = 1; c < n; c++)
    if (p[c] > p[best]) best = c;
  return best;
}

void fi_label_by_prediction(const fi_model *m, fi_ws *ws, fi_examples *ex, int64_t nb, float *probs) {
  int C = fi_model_nclasses(m);
  fi_forward(m, ws, ex, NULL, nb, probs, NULL);
  for (int64_t i = 0; i < nb; i++) fi_examples_set_label(ex, i, fi_argmax(probs + i * C, C));
}

void fi_label_by_sampling(const fi_model *m, fi_ws *ws, fi_examples *ex, int64_t nb, float *probs,
                          uint64_t seed) {
  int C = fi_model_nclasses(m);
  fi_forward(m, ws, ex, NULL, nb, probs, NULL);
  for (int64_t i = 0; i < nb; i++) {
    /* one draw per example from a stream seeded by (seed, its id): the same
     * label in any batch, order or shard */
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)fi_examples_id(ex, i); *p; p++)
      h = (h ^ *p) * 1099511628211ULL;
    fi_rng rng;
    fi_rng_seed(&rng, seed ^ (h * 0x9e3779b97f4a7c15ULL));
    double u = fi_rng_uniform(&rng), cdf = 0;
    int y = C - 1;
    for (int c = 0; c < C; c++)
      if (u < (cdf += probs[i * C + c])) {
        y = c;
        break;
      }
    fi_examples_set_label(ex, i, y);
  }
}

void fi_blas_threads(int n) { openblas_set_num_threads(n); }

/* The list index of factored layer k (dense layer "layers.K"), or -1. */
static int factored_layer(const fi_model *m, int k) {
  for (int l = 0; l < m->nlayers; l++)
    if (m->layers[l].kind->factored && k-- == 0) return l;
  return -1;
}

void fi_layer_factors(const fi_model *m, fi_ws *ws, const fi_examples *ex, const int64_t *idx,
                      int64_t nb, int kmin, float *const *A, float *const *D) {
  int lmin = factored_layer(m, kmin);
  if (kmin < 0 || lmin < 0) fi_die("internal: factored layer %d of %d", kmin, m->nl);
  forward(m, ws, ex, idx, nb, 1);
  backward(m, ws, ex, nb, lmin);
  for (int k = kmin, l; (l = factored_layer(m, k)) >= 0; k++) {
    const fi_layer *L = &m->layers[l];
    if (A && A[k]) memcpy(A[k], layer_in(ws, l), (size_t)(nb * L->in) * sizeof(float));
    if (D && D[k]) memcpy(D[k], ws->d[l], (size_t)(nb * L->out) * sizeof(float));
  }
}

void fi_grad_each(const fi_model *m, fi_ws *ws, const fi_psel *ps, const fi_examples *ex,
                  const int64_t *idx, int64_t nb, int with_l2, float *G) {
  selmap s;
  sel_build(m, ps, &s);
  forward(m, ws, ex, idx, nb, 1);
  backward(m, ws, ex, nb, s.lmin);
  for (int64_t i = 0; i < nb; i++)
    for (int l = 0; l < m->nlayers; l++) {
      if (!s.any[l]) continue;
      const fi_layer *L = &m->layers[l];
      fi_lctx c = lctx(m, ws, ex, nb, l);
      float *gb[FI_LAYER_PARAMS];
      wblocks(&s, l, G + i * ps->size, gb);
      L->kind->grad_row(&c, i, layer_in(ws, l), ws->d[l], (float)m->l2,
                        with_l2 ? (const float *const *)L->p : NULL, gb);
    }
}

/* ---- curvature products ---- */

/* R-forward along v from the lowest selected layer: ws->ra[n] = R(logits);
 * then rd[n-1] = (diag p - p p^T) R(logits), the output Hessian's share
 * (the same for the Hessian and Gauss-Newton). */
static void rop_forward(const fi_model *m, fi_ws *ws, const selmap *s, const fi_examples *ex,
                        int64_t nb, const float *v) {
  int n = m->nlayers;
  for (int l = s->lmin; l < n; l++) {
    const fi_layer *L = &m->layers[l];
    fi_lctx c = lctx(m, ws, ex, nb, l);
    const float *vb[FI_LAYER_PARAMS];
    blocks(s, l, v, vb);
    float *rz = ws->ra[l + 1];
    L->kind->rop(&c, layer_in(ws, l), l > s->lmin ? ws->ra[l] : NULL, vb, rz);
    if (L->act) L->act->backward(ws->a[l + 1], rz, rz, nb * L->out); /* R(a) = f'(z) R(z) */
  }
  int64_t C = ws->w[n];
  for (int64_t i = 0; i < nb; i++) {
    const float *p = ws->a[n] + i * C, *rz = ws->ra[n] + i * C;
    float *rd = ws->rd[n - 1] + i * C;
    double pr = 0;
    for (int64_t c = 0; c < C; c++) pr += (double)p[c] * rz[c];
    for (int64_t c = 0; c < C; c++) rd[c] = p[c] * (rz[c] - (float)pr);
  }
}

/* The R-passes of one HVP after the batch's forward and backward pass,
 * which they only read (ws->a, ws->d, ws->da): so k vectors share one. */
static void hvp_rpasses(const fi_model *m, fi_ws *ws, const selmap *s, const fi_examples *ex,
                        int64_t nb, const float *v, float *Hv) {
  rop_forward(m, ws, s, ex, nb, v);
  /* R-backward */
  float alpha = 1.0f / (float)nb;
  for (int l = m->nlayers - 1; l >= s->lmin; l--) {
    const fi_layer *L = &m->layers[l];
    fi_lctx c = lctx(m, ws, ex, nb, l);
    const float *vb[FI_LAYER_PARAMS];
    blocks(s, l, v, vb);
    const float *rx = l > s->lmin ? ws->ra[l] : NULL; /* R(a_l) nonzero */
    if (s->any[l]) {
      float *hb[FI_LAYER_PARAMS];
      wblocks(s, l, Hv, hb);
      L->kind->rop_grad(&c, layer_in(ws, l), rx, ws->d[l], ws->rd[l], alpha, (float)m->l2, vb, hb);
    }
    if (l > s->lmin) {
      float *rdx = rdx_buf(m, ws, l);
      L->kind->rop_backward(&c, ws->d[l], ws->rd[l], vb, rdx);
      const fi_activation *f = m->layers[l - 1].act;
      int64_t ne = nb * L->in;
      if (f && f->rop_backward) f->rop_backward(ws->a[l], ws->ra[l], ws->da[l], rdx, ws->rd[l - 1], ne);
      else if (f) f->backward(ws->a[l], rdx, ws->rd[l - 1], ne);
    }
  }
}

void fi_hvp_many(const fi_model *m, fi_ws *ws, const fi_psel *ps, const fi_examples *ex,
                 const int64_t *idx, int64_t nb, int64_t k, const float *V, float *HV) {
  selmap s;
  sel_build(m, ps, &s);
  forward(m, ws, ex, idx, nb, 1);
  backward(m, ws, ex, nb, s.lmin);
  for (int64_t j = 0; j < k; j++) hvp_rpasses(m, ws, &s, ex, nb, V + j * ps->size, HV + j * ps->size);
}

void fi_hvp(const fi_model *m, fi_ws *ws, const fi_psel *ps, const fi_examples *ex,
            const int64_t *idx, int64_t nb, const float *v, float *Hv) {
  fi_hvp_many(m, ws, ps, ex, idx, nb, 1, v, Hv);
}

void fi_ggnvp_many(const fi_model *m, fi_ws *ws, const fi_psel *ps, const fi_examples *ex,
                   const int64_t *idx, int64_t nb, int64_t k, const float *V, float *GV) {
  selmap s;
  sel_build(m, ps, &s);
  forward(m, ws, ex, idx, nb, 0); /* (diag p - p p^T) needs no label */
  for (int64_t j = 0; j < k; j++) { /* the R-passes only read the forward pass's buffers */
    const float *v = V + j * ps->size;
    rop_forward(m, ws, &s, ex, nb, v);
    pass_down(m, ws, ex, nb, s.lmin, ws->rd);
    grad_accum(m, ws, &s, ex, nb, ws->rd, 1.0f / (float)nb, 0, v, GV + j * ps->size);
  }
}

void fi_ggnvp(const fi_model *m, fi_ws *ws, const fi_psel *ps, const fi_examples *ex,
              const int64_t *idx, int64_t nb, const float *v, float *Gv) {
  fi_ggnvp_many(m, ws, ps, ex, idx, nb, 1, v, Gv);
}

/* ---- influence ---- */

void fi_influence_scores(const fi_model *m, fi_ws *ws, const fi_psel *ps, const fi_examples *ex,
                         const int64_t *idx, int64_t nb, const float *S, int T, int with_l2,
                         float *scores) {
  selmap s;
  sel_build(m, ps, &s);
  double t0 = fi_now();
  forward(m, ws, ex, idx, nb, 1);
  backward(m, ws, ex, nb, s.lmin);
  double t1 = fi_now();
  ws->t_pass += t1 - t0;
  int64_t P = ps->size;
  for (int64_t e = 0; e < (int64_t)T * nb; e++) scores[e] = 0;
  /* the float sums in their historical order: the layers from the
   * examples' bag upward are added after the dense ones */
  for (int pass = 0; pass < 2; pass++)
    for (int l = 0; l < m->nlayers; l++) {
      const fi_layer *L = &m->layers[l];
      if (!s.any[l] || L->kind->reads_examples != pass) continue;
      fi_lctx c = lctx(m, ws, ex, nb, l);
      const float *sb[FI_LAYER_PARAMS];
      blocks(&s, l, S, sb);
      L->kind->scores(&c, layer_in(ws, l), ws->d[l], sb, P, T, scores);
    }
  if (with_l2 && m->l2 != 0) {
    /* l2*w is the same for every example: one dot per S_t */
    for (int t = 0; t < T; t++) {
      double c = 0;
      for (int j = 0; j < ps->n; j++) {
        int i = ps->idx[j];
        if (!fi_model_param_is_weight(m, i)) continue;
        const float *w = m->pdata[i], *st = S + (int64_t)t * P + ps->off[j];
        for (int64_t e = 0; e < m->pnumel[i]; e++) c += (double)w[e] * st[e];
      }
      for (int64_t i = 0; i < nb; i++) scores[(int64_t)t * nb + i] -= (float)(m->l2 * c);
    }
  }
  ws->t_scores += fi_now() - t1;
}

void fi_ws_times(const fi_ws *ws, double *pass, double *scores) {
  *pass = ws->t_pass;
  *scores = ws->t_scores;
}
