/* model_compute.c - batched forward/backward through BLAS, per-example
 * gradients, exact Hessian-vector products (Pearlmutter's R-operator) and
 * factored influence scores for the linear/mlp/bow models.
 *
 * Notation (per example, dense layer k = 0..L-1, row-major batches):
 *   a_0 = input (x, or the mean of the example's embedding rows for bow)
 *   z_k = W_k a_k + b_k,  a_{k+1} = f(z_k) for k < L-1,  p = softmax(z_{L-1})
 *   d_k = dLoss/dz_k (unscaled, per example), da_k = dLoss/da_k = W_k^T d_k
 *   gW_k = d_k a_k^T, gb_k = d_k;  the batch mean divides by nb.
 * R-operator along v (v zero outside the selected parameters):
 *   R(z_k) = V_k a_k + W_k R(a_k) + vb_k, R(a_{k+1}) = f'(z_k) R(z_k)
 *   R(d_{L-1}) = p*R(z) - p (p.R(z))
 *   R(da_k) = W_k^T R(d_k) + V_k^T d_k
 *   R(d_{k-1}) = f'(z_{k-1}) R(da_k) + f''(z_{k-1}) R(z_{k-1}) da_k
 *   H v|W_k = R(d_k) a_k^T + d_k R(a_k)^T, H v|b_k = R(d_k)
 * For tanh f' = 1 - a^2 and f'' R(z) = -2 a R(a); relu has f'' = 0. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "model_internal.h"
#include "util.h"

struct fi_ws {
  int64_t cap;                      /* batch capacity */
  int nl;
  int64_t sizes[FI_MAX_LAYERS + 1];
  int bow;
  float *a[FI_MAX_LAYERS + 1];      /* a[0] input, a[1..L-1] hidden, a[L] probs */
  const float *in0;                 /* layer-0 input actually used (a[0] or ex->x) */
  float *d[FI_MAX_LAYERS];          /* [nb, sizes[k+1]] */
  float *da[FI_MAX_LAYERS];         /* [nb, sizes[k]] */
  float *ra[FI_MAX_LAYERS + 1];     /* R(a_k); ra[L] = R(logits) */
  float *rd[FI_MAX_LAYERS];
  float *rda;                       /* [nb, max size] */
  double *loss;                     /* [nb] */
  int32_t *lab;
  float *invn;                      /* 1/bag size (bow), 0 for an empty bag */
  int64_t *rows;                    /* example index of each batch row */
  float *sbuf, *ybuf;               /* influence: stacked S, products */
  size_t sbufcap, ybufcap;
};

/* ---- BLAS helper: row-major C = alpha op(A) op(B) + beta C, with the
 * degenerate shapes of batch-1 calls (LiSSA) sent to gemv/ger, which
 * OpenBLAS runs with much less overhead than sgemm. ---- */
static void gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                 int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  if (M == 1) {
    /* C[0,:] = alpha op(B)^T x + beta C, x = op(A)[0,:] */
    if (beta == 0) memset(C, 0, (size_t)N * sizeof(float));
    int incx = ta ? (int)lda : 1;
    if (!tb) cblas_sgemv(CblasRowMajor, CblasTrans, (int)K, (int)N, alpha, B, (int)ldb, A, incx,
                         beta, C, 1);
    else cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)N, (int)K, alpha, B, (int)ldb, A, incx,
                     beta, C, 1);
  } else if (N == 1) {
    /* C[:,0] = alpha op(A) y + beta C, y = op(B)[:,0] */
    if (beta == 0)
      for (int64_t m = 0; m < M; m++) C[m * ldc] = 0;
    int incy = tb ? 1 : (int)ldb;
    if (!ta) cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)M, (int)K, alpha, A, (int)lda, B, incy,
                         beta, C, (int)ldc);
    else cblas_sgemv(CblasRowMajor, CblasTrans, (int)K, (int)M, alpha, A, (int)lda, B, incy,
                     beta, C, (int)ldc);
  } else if (K == 1 && (beta == 0 || beta == 1)) {
    /* rank-1: C = alpha a b^T (+ C) */
    if (beta == 0)
      for (int64_t m = 0; m < M; m++) memset(C + m * ldc, 0, (size_t)N * sizeof(float));
    cblas_sger(CblasRowMajor, (int)M, (int)N, alpha, A, ta ? 1 : (int)lda, B, tb ? (int)ldb : 1,
               C, (int)ldc);
  } else {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
  }
}

/* ---- workspace ---- */

fi_ws *fi_ws_new(const fi_model *m) {
  fi_ws *ws = fi_calloc(1, sizeof *ws);
  ws->nl = m->nl;
  memcpy(ws->sizes, m->sizes, sizeof ws->sizes);
  ws->bow = m->arch == FI_ARCH_BOW;
  return ws;
}

static void ws_release(fi_ws *ws) {
  for (int k = 0; k <= FI_MAX_LAYERS; k++) {
    free(ws->a[k]);
    free(ws->ra[k]);
    ws->a[k] = ws->ra[k] = NULL;
  }
  for (int k = 0; k < FI_MAX_LAYERS; k++) {
    free(ws->d[k]);
    free(ws->da[k]);
    free(ws->rd[k]);
    ws->d[k] = ws->da[k] = ws->rd[k] = NULL;
  }
  free(ws->rda);
  free(ws->loss);
  free(ws->lab);
  free(ws->invn);
  free(ws->rows);
  ws->rda = NULL;
  ws->loss = NULL;
  ws->lab = NULL;
  ws->invn = NULL;
  ws->rows = NULL;
}

void fi_ws_free(fi_ws *ws) {
  if (!ws) return;
  ws_release(ws);
  free(ws->sbuf);
  free(ws->ybuf);
  free(ws);
}

static float *zalloc(int64_t n) {
  float *p = fi_aligned((size_t)(n > 0 ? n : 1), sizeof(float));
  memset(p, 0, (size_t)(n > 0 ? n : 1) * sizeof(float));
  return p;
}

static void ws_prepare(fi_ws *ws, const fi_model *m, int64_t nb) {
  if (ws->nl != m->nl || memcmp(ws->sizes, m->sizes, sizeof ws->sizes) ||
      ws->bow != (m->arch == FI_ARCH_BOW))
    fi_die("internal: workspace used with a model of another shape");
  if (nb < 1) fi_die("internal: empty batch");
  if (nb <= ws->cap) return;
  ws_release(ws);
  int64_t cap = ws->cap ? ws->cap : 1;
  while (cap < nb) cap *= 2;
  int L = m->nl;
  int64_t maxw = 0;
  for (int k = 0; k <= L; k++) {
    ws->a[k] = zalloc(cap * m->sizes[k]);
    ws->ra[k] = zalloc(cap * m->sizes[k]);
    if (m->sizes[k] > maxw) maxw = m->sizes[k];
  }
  for (int k = 0; k < L; k++) {
    ws->d[k] = zalloc(cap * m->sizes[k + 1]);
    ws->rd[k] = zalloc(cap * m->sizes[k + 1]);
    ws->da[k] = zalloc(cap * m->sizes[k]);
  }
  ws->rda = zalloc(cap * maxw);
  ws->loss = fi_calloc((size_t)cap, sizeof(double));
  ws->lab = fi_calloc((size_t)cap, sizeof(int32_t));
  ws->invn = zalloc(cap);
  ws->rows = fi_calloc((size_t)cap, sizeof(int64_t));
  ws->cap = cap;
}

static float *grow_buf(float **buf, size_t *cap, size_t n) {
  if (n > *cap) {
    free(*buf);
    *buf = fi_aligned(n, sizeof(float));
    *cap = n;
  }
  return *buf;
}

/* ---- selection map ---- */

typedef struct {
  int64_t ow[FI_MAX_LAYERS], ob[FI_MAX_LAYERS], oe; /* offsets in the vector, -1 = not selected */
  int kmin;    /* lowest dense layer that backprop must reach */
  int emb;     /* embedding table selected */
} selmap;

static void sel_build(const fi_model *m, const fi_psel *ps, selmap *s) {
  for (int k = 0; k < m->nl; k++) s->ow[k] = s->ob[k] = -1;
  s->oe = -1;
  s->emb = 0;
  s->kmin = m->nl;
  int64_t off = 0;
  if (ps->n < 1 || ps->n > m->np) fi_die("internal: bad parameter selection");
  for (int j = 0; j < ps->n; j++) {
    int i = ps->idx[j];
    if (i < 0 || i >= m->np || (j > 0 && i <= ps->idx[j - 1]) || ps->off[j] != off)
      fi_die("internal: parameter selection does not match the model");
    off += m->pnumel[i];
    if (i == m->pe) {
      s->oe = ps->off[j];
      s->emb = 1;
      s->kmin = 0;
    }
    for (int k = 0; k < m->nl; k++) {
      if (i == m->pw[k]) s->ow[k] = ps->off[j];
      if (i == m->pb[k]) s->ob[k] = ps->off[j];
      if ((i == m->pw[k] || i == m->pb[k]) && k < s->kmin) s->kmin = k;
    }
  }
  if (off != ps->size) fi_die("internal: parameter selection size does not match the model");
}

/* ---- forward ---- */

static void act_inplace(fi_act act, float *z, int64_t n) {
  if (act == FI_ACT_TANH)
    for (int64_t i = 0; i < n; i++) z[i] = tanhf(z[i]);
  else if (act == FI_ACT_RELU)
    for (int64_t i = 0; i < n; i++) z[i] = z[i] > 0 ? z[i] : 0;
}

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
  int L = m->nl;
  int64_t d0 = m->sizes[0];
  if (m->arch == FI_ARCH_BOW) {
    for (int64_t i = 0; i < nb; i++) {
      int64_t j = ws->rows[i];
      float *row = ws->a[0] + i * d0;
      if (ex->bag_m == m && j < ex->bag_n) { /* the same sums, done once */
        memcpy(row, ex->bag + j * d0, (size_t)d0 * sizeof(float));
        ws->invn[i] = ex->bag_invn[j];
      } else {
        ws->invn[i] = fi_bow_bag(m, ex, j, row);
      }
    }
    ws->in0 = ws->a[0];
  } else if (!idx) {
    ws->in0 = ex->x; /* rows 0..nb-1 are already a contiguous batch */
  } else {
    for (int64_t i = 0; i < nb; i++)
      memcpy(ws->a[0] + i * d0, ex->x + ws->rows[i] * d0, (size_t)d0 * sizeof(float));
    ws->in0 = ws->a[0];
  }
  for (int k = 0; k < L; k++) {
    int64_t in = m->sizes[k], out = m->sizes[k + 1];
    const float *A = k ? ws->a[k] : ws->in0;
    float *Z = ws->a[k + 1];
    const float *b = m->pdata[m->pb[k]];
    for (int64_t i = 0; i < nb; i++) memcpy(Z + i * out, b, (size_t)out * sizeof(float));
    gemm(0, 1, nb, out, in, 1.0f, A, in, m->pdata[m->pw[k]], in, 1.0f, Z, out);
    if (k < L - 1) act_inplace(m->act, Z, nb * out);
  }
  /* softmax in place; the loss from the logits in double */
  int64_t C = m->sizes[L];
  double tot = 0;
  int64_t nlab = 0;
  for (int64_t i = 0; i < nb; i++) {
    float *z = ws->a[L] + i * C;
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

/* ---- backward: d[k] for k >= kmin, da[k] for k > kmin (and da[0] when
 * the embedding is selected) ---- */
static void backward(const fi_model *m, fi_ws *ws, int64_t nb, int kmin, int emb) {
  int L = m->nl;
  int64_t C = m->sizes[L];
  float *dL = ws->d[L - 1];
  memcpy(dL, ws->a[L], (size_t)(nb * C) * sizeof(float));
  for (int64_t i = 0; i < nb; i++) dL[i * C + ws->lab[i]] -= 1.0f;
  for (int k = L - 1; k >= 1 && k > kmin; k--) {
    int64_t in = m->sizes[k], out = m->sizes[k + 1];
    gemm(0, 0, nb, in, out, 1.0f, ws->d[k], out, m->pdata[m->pw[k]], in, 0.0f, ws->da[k], in);
    float *dn = ws->d[k - 1];
    const float *a = ws->a[k], *da = ws->da[k];
    int64_t n = nb * in;
    if (m->act == FI_ACT_TANH)
      for (int64_t e = 0; e < n; e++) dn[e] = da[e] * (1.0f - a[e] * a[e]);
    else
      for (int64_t e = 0; e < n; e++) dn[e] = a[e] > 0 ? da[e] : 0.0f;
  }
  if (emb)
    gemm(0, 0, nb, m->sizes[0], m->sizes[1], 1.0f, ws->d[0], m->sizes[1], m->pdata[m->pw[0]],
         m->sizes[0], 0.0f, ws->da[0], m->sizes[0]);
}

/* Embedding-table block of a vector: rows of the example's buckets get
 * alpha * invn_i * src_i (src [nb, dim]). */
static void emb_scatter(const fi_model *m, const fi_ws *ws, const fi_examples *ex, int64_t nb,
                        const float *src, float alpha, float *blk) {
  int64_t dim = m->dim;
  for (int64_t i = 0; i < nb; i++) {
    int64_t j = ws->rows[i];
    float s = alpha * ws->invn[i];
    const float *r = src + i * dim;
    for (int64_t t = ex->rowptr[j]; t < ex->rowptr[j + 1]; t++) {
      float *e = blk + (int64_t)ex->tok[t] * dim;
      for (int64_t c = 0; c < dim; c++) e[c] += s * r[c];
    }
  }
}

static const float *layer_in(const fi_ws *ws, int k) { return k ? ws->a[k] : ws->in0; }

/* g (selected vector) = alpha * sum_i grad_i (+ l2*w). */
static void grad_accum(const fi_model *m, fi_ws *ws, const selmap *s, const fi_examples *ex,
                       int64_t nb, float alpha, int with_l2, float *g) {
  for (int k = 0; k < m->nl; k++) {
    int64_t in = m->sizes[k], out = m->sizes[k + 1];
    if (s->ow[k] >= 0) {
      float *gw = g + s->ow[k];
      gemm(1, 0, out, in, nb, alpha, ws->d[k], out, layer_in(ws, k), in, 0.0f, gw, in);
      if (with_l2) cblas_saxpy((int)(out * in), (float)m->l2, m->pdata[m->pw[k]], 1, gw, 1);
    }
    if (s->ob[k] >= 0) {
      float *gb = g + s->ob[k];
      for (int64_t o = 0; o < out; o++) {
        double acc = 0;
        for (int64_t i = 0; i < nb; i++) acc += ws->d[k][i * out + o];
        gb[o] = (float)(alpha * acc);
      }
    }
  }
  if (s->emb) {
    float *ge = g + s->oe;
    memset(ge, 0, (size_t)m->pnumel[m->pe] * sizeof(float));
    emb_scatter(m, ws, ex, nb, ws->da[0], alpha, ge);
    if (with_l2) cblas_saxpy((int)m->pnumel[m->pe], (float)m->l2, m->pdata[m->pe], 1, ge, 1);
  }
}

/* Dot product with 8 independent partial sums, so the compiler can keep it
 * in vector registers (a double accumulator serialises it). */
static float dotf(const float *a, const float *b, int64_t n) {
  float p[8] = {0};
  int64_t o = 0;
  for (; o + 8 <= n; o += 8)
    for (int l = 0; l < 8; l++) p[l] += a[o + l] * b[o + l];
  float r = 0;
  for (; o < n; o++) r += a[o] * b[o];
  return ((p[0] + p[4]) + (p[1] + p[5])) + ((p[2] + p[6]) + (p[3] + p[7])) + r;
}

double fi_forward(const fi_model *m, fi_ws *ws, const fi_examples *ex, const int64_t *idx,
                  int64_t nb, float *probs, float *emb) {
  double loss = forward(m, ws, ex, idx, nb, 0);
  int L = m->nl;
  if (probs) memcpy(probs, ws->a[L], (size_t)(nb * m->sizes[L]) * sizeof(float));
  if (emb) memcpy(emb, layer_in(ws, L - 1), (size_t)(nb * m->sizes[L - 1]) * sizeof(float));
  return loss;
}

double fi_grad_mean(const fi_model *m, fi_ws *ws, const fi_psel *ps, const fi_examples *ex,
                    const int64_t *idx, int64_t nb, int with_l2, float *g) {
  selmap s;
  sel_build(m, ps, &s);
  double loss = forward(m, ws, ex, idx, nb, 1);
  backward(m, ws, nb, s.kmin, s.emb);
  grad_accum(m, ws, &s, ex, nb, 1.0f / (float)nb, with_l2, g);
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

void fi_blas_threads(int n) { openblas_set_num_threads(n); }

void fi_layer_factors(const fi_model *m, fi_ws *ws, const fi_examples *ex, const int64_t *idx,
                      int64_t nb, int kmin, float *const *A, float *const *D) {
  if (kmin < 0 || kmin >= m->nl) fi_die("internal: factored layer %d of %d", kmin, m->nl);
  forward(m, ws, ex, idx, nb, 1);
  backward(m, ws, nb, kmin, 0);
  for (int k = kmin; k < m->nl; k++) {
    int64_t in = m->sizes[k], out = m->sizes[k + 1];
    if (A && A[k]) memcpy(A[k], layer_in(ws, k), (size_t)(nb * in) * sizeof(float));
    if (D && D[k]) memcpy(D[k], ws->d[k], (size_t)(nb * out) * sizeof(float));
  }
}

void fi_grad_each(const fi_model *m, fi_ws *ws, const fi_psel *ps, const fi_examples *ex,
                  const int64_t *idx, int64_t nb, int with_l2, float *G) {
  selmap s;
  sel_build(m, ps, &s);
  forward(m, ws, ex, idx, nb, 1);
  backward(m, ws, nb, s.kmin, s.emb);
  int64_t P = ps->size;
  float l2 = (float)m->l2;
  for (int64_t i = 0; i < nb; i++) {
    float *row = G + i * P;
    for (int k = 0; k < m->nl; k++) {
      int64_t in = m->sizes[k], out = m->sizes[k + 1];
      const float *di = ws->d[k] + i * out, *ai = layer_in(ws, k) + i * in;
      if (s.ow[k] >= 0) {
        float *gw = row + s.ow[k];
        const float *w = m->pdata[m->pw[k]];
        for (int64_t o = 0; o < out; o++) {
          float dv = di[o];
          float *r = gw + o * in;
          if (with_l2)
            for (int64_t c = 0; c < in; c++) r[c] = dv * ai[c] + l2 * w[o * in + c];
          else
            for (int64_t c = 0; c < in; c++) r[c] = dv * ai[c];
        }
      }
      if (s.ob[k] >= 0) memcpy(row + s.ob[k], di, (size_t)out * sizeof(float));
    }
    if (s.emb) {
      float *ge = row + s.oe;
      int64_t ne = m->pnumel[m->pe];
      if (with_l2)
        for (int64_t e = 0; e < ne; e++) ge[e] = l2 * m->pdata[m->pe][e];
      else
        memset(ge, 0, (size_t)ne * sizeof(float));
      int64_t j = ws->rows[i], dim = m->dim;
      const float *r = ws->da[0] + i * dim;
      for (int64_t t = ex->rowptr[j]; t < ex->rowptr[j + 1]; t++) {
        float *e = ge + (int64_t)ex->tok[t] * dim;
        for (int64_t c = 0; c < dim; c++) e[c] += ws->invn[i] * r[c];
      }
    }
  }
}

void fi_hvp(const fi_model *m, fi_ws *ws, const fi_psel *ps, const fi_examples *ex,
            const int64_t *idx, int64_t nb, const float *v, float *Hv) {
  selmap s;
  sel_build(m, ps, &s);
  forward(m, ws, ex, idx, nb, 1);
  backward(m, ws, nb, s.kmin, s.emb);
  int L = m->nl, ks = s.kmin;
  /* R-forward from the lowest selected layer (below it R(a) = 0) */
  if (s.emb) {
    int64_t dim = m->dim;
    const float *VE = v + s.oe;
    for (int64_t i = 0; i < nb; i++) {
      int64_t j = ws->rows[i];
      float *r = ws->ra[0] + i * dim;
      memset(r, 0, (size_t)dim * sizeof(float));
      for (int64_t t = ex->rowptr[j]; t < ex->rowptr[j + 1]; t++) {
        const float *e = VE + (int64_t)ex->tok[t] * dim;
        for (int64_t c = 0; c < dim; c++) r[c] += e[c];
      }
      for (int64_t c = 0; c < dim; c++) r[c] *= ws->invn[i];
    }
  }
  for (int k = ks; k < L; k++) {
    int64_t in = m->sizes[k], out = m->sizes[k + 1];
    float *rz = ws->ra[k + 1];
    if (s.ob[k] >= 0)
      for (int64_t i = 0; i < nb; i++) memcpy(rz + i * out, v + s.ob[k], (size_t)out * sizeof(float));
    else
      memset(rz, 0, (size_t)(nb * out) * sizeof(float));
    if (s.ow[k] >= 0) gemm(0, 1, nb, out, in, 1.0f, layer_in(ws, k), in, v + s.ow[k], in, 1.0f, rz, out);
    if (k > ks || s.emb) gemm(0, 1, nb, out, in, 1.0f, ws->ra[k], in, m->pdata[m->pw[k]], in, 1.0f, rz, out);
    if (k < L - 1) {
      const float *a = ws->a[k + 1];
      int64_t n = nb * out;
      if (m->act == FI_ACT_TANH)
        for (int64_t e = 0; e < n; e++) rz[e] *= 1.0f - a[e] * a[e];
      else
        for (int64_t e = 0; e < n; e++) rz[e] = a[e] > 0 ? rz[e] : 0.0f;
    }
  }
  /* R-backward */
  int64_t C = m->sizes[L];
  for (int64_t i = 0; i < nb; i++) {
    const float *p = ws->a[L] + i * C, *rz = ws->ra[L] + i * C;
    float *rd = ws->rd[L - 1] + i * C;
    double pr = 0;
    for (int64_t c = 0; c < C; c++) pr += (double)p[c] * rz[c];
    for (int64_t c = 0; c < C; c++) rd[c] = p[c] * (rz[c] - (float)pr);
  }
  float alpha = 1.0f / (float)nb;
  for (int k = L - 1; k >= ks; k--) {
    int64_t in = m->sizes[k], out = m->sizes[k + 1];
    const float *A = layer_in(ws, k);
    int ra_live = k > ks || s.emb; /* R(a_k) nonzero */
    if (s.ow[k] >= 0) {
      /* start from the l2 term so the products accumulate onto it: one
       * pass less over the largest block for LiSSA's batch-1 calls */
      float *hw = Hv + s.ow[k];
      const float *vw = v + s.ow[k];
      float l2 = (float)m->l2;
      for (int64_t e = 0; e < out * in; e++) hw[e] = l2 * vw[e];
      gemm(1, 0, out, in, nb, alpha, ws->rd[k], out, A, in, 1.0f, hw, in);
      if (ra_live) gemm(1, 0, out, in, nb, alpha, ws->d[k], out, ws->ra[k], in, 1.0f, hw, in);
    }
    if (s.ob[k] >= 0) {
      float *hb = Hv + s.ob[k];
      for (int64_t o = 0; o < out; o++) {
        double acc = 0;
        for (int64_t i = 0; i < nb; i++) acc += ws->rd[k][i * out + o];
        hb[o] = (float)(alpha * acc);
      }
    }
    if (k > ks || (k == 0 && s.emb)) {
      float *rda = ws->rda;
      gemm(0, 0, nb, in, out, 1.0f, ws->rd[k], out, m->pdata[m->pw[k]], in, 0.0f, rda, in);
      if (s.ow[k] >= 0) gemm(0, 0, nb, in, out, 1.0f, ws->d[k], out, v + s.ow[k], in, 1.0f, rda, in);
      if (k == 0) {
        float *he = Hv + s.oe;
        memset(he, 0, (size_t)m->pnumel[m->pe] * sizeof(float));
        emb_scatter(m, ws, ex, nb, rda, alpha, he);
        cblas_saxpy((int)m->pnumel[m->pe], (float)m->l2, v + s.oe, 1, he, 1);
      } else {
        float *rdn = ws->rd[k - 1];
        const float *a = ws->a[k], *ra = ws->ra[k], *da = ws->da[k];
        int64_t n = nb * in;
        if (m->act == FI_ACT_TANH)
          for (int64_t e = 0; e < n; e++)
            rdn[e] = (1.0f - a[e] * a[e]) * rda[e] - 2.0f * a[e] * ra[e] * da[e];
        else
          for (int64_t e = 0; e < n; e++) rdn[e] = a[e] > 0 ? rda[e] : 0.0f;
      }
    }
  }
}

void fi_influence_scores(const fi_model *m, fi_ws *ws, const fi_psel *ps, const fi_examples *ex,
                         const int64_t *idx, int64_t nb, const float *S, int T, int with_l2,
                         float *scores) {
  selmap s;
  sel_build(m, ps, &s);
  forward(m, ws, ex, idx, nb, 1);
  backward(m, ws, nb, s.kmin, s.emb);
  int64_t P = ps->size;
  for (int64_t e = 0; e < (int64_t)T * nb; e++) scores[e] = 0;
  for (int k = 0; k < m->nl; k++) {
    int64_t in = m->sizes[k], out = m->sizes[k + 1];
    const float *D = ws->d[k];
    if (s.ow[k] >= 0) {
      /* g_i.S_t|W = d_i^T S_t a_i: Y = A S_t^T [nb, out], then row-wise dots
       * with d_i. Wide layers take one GEMM per S_t straight from S (no
       * copy); narrow ones stack a chunk of S_t so the GEMM stays efficient. */
      int stack = out < 64 && T > 1;
      int64_t tc = ((int64_t)4 << 20) / (nb * out);       /* Y <= 16 MB */
      int64_t tc2 = ((int64_t)64 << 20) / (out * in);     /* stacked S <= 256 MB */
      if (tc2 < tc) tc = tc2;
      if (tc < 1) tc = 1;
      if (tc > T) tc = T;
      if (!stack) tc = 1;
      for (int64_t t0 = 0; t0 < T; t0 += tc) {
        int64_t nt = T - t0 < tc ? T - t0 : tc;
        const float *Sst;
        if (nt == 1) {
          Sst = S + t0 * P + s.ow[k];
        } else {
          float *sb = grow_buf(&ws->sbuf, &ws->sbufcap, (size_t)(nt * out * in));
          for (int64_t t = 0; t < nt; t++)
            memcpy(sb + t * out * in, S + (t0 + t) * P + s.ow[k], (size_t)(out * in) * sizeof(float));
          Sst = sb;
        }
        float *Y = grow_buf(&ws->ybuf, &ws->ybufcap, (size_t)(nb * nt * out));
        gemm(0, 1, nb, nt * out, in, 1.0f, layer_in(ws, k), in, Sst, in, 0.0f, Y, nt * out);
        for (int64_t t = 0; t < nt; t++)
          for (int64_t i = 0; i < nb; i++)
            scores[(t0 + t) * nb + i] -= dotf(D + i * out, Y + i * nt * out + t * out, out);
      }
    }
    if (s.ob[k] >= 0) {
      for (int t = 0; t < T; t++) {
        const float *sb = S + (int64_t)t * P + s.ob[k];
        for (int64_t i = 0; i < nb; i++) {
          const float *di = D + i * out;
          double acc = 0;
          for (int64_t o = 0; o < out; o++) acc += (double)di[o] * sb[o];
          scores[(int64_t)t * nb + i] -= (float)acc;
        }
      }
    }
  }
  if (s.emb) {
    /* g_i.S_t|E = invn_i sum over the bag of S_t[bucket] . da0_i: sparse */
    int64_t dim = m->dim;
    for (int t = 0; t < T; t++) {
      const float *SE = S + (int64_t)t * P + s.oe;
      for (int64_t i = 0; i < nb; i++) {
        int64_t j = ws->rows[i];
        const float *r = ws->da[0] + i * dim;
        double acc = 0;
        for (int64_t q = ex->rowptr[j]; q < ex->rowptr[j + 1]; q++) {
          const float *e = SE + (int64_t)ex->tok[q] * dim;
          for (int64_t c = 0; c < dim; c++) acc += (double)e[c] * r[c];
        }
        scores[(int64_t)t * nb + i] -= (float)(acc * ws->invn[i]);
      }
    }
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
}
