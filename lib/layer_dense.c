/* layer_dense.c - the dense layer z = W x + b (W [out, in], b [out];
 * PyTorch's nn.Linear), batched through BLAS. Per example:
 *   dx = W^T d,  gW = d x^T,  gb = d
 *   rz = V x + W rx + vb
 *   hW = rd x^T + d rx^T,  hb = rd,  rdx = W^T rd + V^T d
 * with V, vb the direction's blocks. */
#include <cblas.h>
#include <math.h>
#include <string.h>
#include "gemm.h"
#include "layer.h"

static int dense_declare(int64_t in, int64_t out, fi_param_decl *p) {
  p[0] = (fi_param_decl){"weight", 2, {out, in}};
  p[1] = (fi_param_decl){"bias", 1, {out}};
  return 2;
}

/* Glorot-uniform weights (keeps tanh units out of saturation), zero biases */
static void dense_init(const fi_layer *l, fi_rng *rng) {
  double a = sqrt(6.0 / (double)(l->in + l->out));
  for (int64_t i = 0; i < l->numel[0]; i++) l->p[0][i] = (float)(a * (2 * fi_rng_uniform(rng) - 1));
}

static void dense_forward(const fi_lctx *c, const float *x, float *z) {
  int64_t in = c->l->in, out = c->l->out;
  for (int64_t i = 0; i < c->nb; i++) memcpy(z + i * out, c->l->p[1], (size_t)out * sizeof(float));
  fi_gemm(0, 1, c->nb, out, in, 1.0f, x, in, c->l->p[0], in, 1.0f, z, out);
}

static void dense_backward(const fi_lctx *c, const float *d, float *dx) {
  int64_t in = c->l->in, out = c->l->out;
  fi_gemm(0, 0, c->nb, in, out, 1.0f, d, out, c->l->p[0], in, 0.0f, dx, in);
}

/* gb = alpha sum_i rows of d, summed in double */
static void bias_sum(const fi_lctx *c, const float *d, float alpha, float *gb) {
  int64_t out = c->l->out;
  for (int64_t o = 0; o < out; o++) {
    double acc = 0;
    for (int64_t i = 0; i < c->nb; i++) acc += d[i * out + o];
    gb[o] = (float)(alpha * acc);
  }
}

static void dense_grad(const fi_lctx *c, const float *x, const float *d, float alpha, float l2,
                       const float *const *r, float *const *g) {
  int64_t in = c->l->in, out = c->l->out;
  if (g[0]) {
    fi_gemm(1, 0, out, in, c->nb, alpha, d, out, x, in, 0.0f, g[0], in);
    if (r) cblas_saxpy((int)(out * in), l2, r[0], 1, g[0], 1);
  }
  if (g[1]) bias_sum(c, d, alpha, g[1]);
}

static void dense_grad_row(const fi_lctx *c, int64_t i, const float *x, const float *d, float l2,
                           const float *const *r, float *const *g) {
  int64_t in = c->l->in, out = c->l->out;
  const float *di = d + i * out, *xi = x + i * in;
  if (g[0]) {
    const float *w = r ? r[0] : NULL;
    for (int64_t o = 0; o < out; o++) {
      float dv = di[o];
      float *row = g[0] + o * in;
      if (w)
        for (int64_t k = 0; k < in; k++) row[k] = dv * xi[k] + l2 * w[o * in + k];
      else
        for (int64_t k = 0; k < in; k++) row[k] = dv * xi[k];
    }
  }
  if (g[1]) memcpy(g[1], di, (size_t)out * sizeof(float));
}

static void dense_rop(const fi_lctx *c, const float *x, const float *rx, const float *const *v,
                      float *rz) {
  int64_t in = c->l->in, out = c->l->out, nb = c->nb;
  if (v[1])
    for (int64_t i = 0; i < nb; i++) memcpy(rz + i * out, v[1], (size_t)out * sizeof(float));
  else
    memset(rz, 0, (size_t)(nb * out) * sizeof(float));
  if (v[0]) fi_gemm(0, 1, nb, out, in, 1.0f, x, in, v[0], in, 1.0f, rz, out);
  if (rx) fi_gemm(0, 1, nb, out, in, 1.0f, rx, in, c->l->p[0], in, 1.0f, rz, out);
}

static void dense_rop_grad(const fi_lctx *c, const float *x, const float *rx, const float *d,
                           const float *rd, float alpha, float l2, const float *const *v,
                           float *const *h) {
  int64_t in = c->l->in, out = c->l->out, nb = c->nb;
  if (h[0]) {
    /* start from the l2 term so the products accumulate onto it: one pass
     * less over the largest block for LiSSA's batch-1 calls */
    float *hw = h[0];
    for (int64_t e = 0; e < out * in; e++) hw[e] = l2 * v[0][e];
    fi_gemm(1, 0, out, in, nb, alpha, rd, out, x, in, 1.0f, hw, in);
    if (rx) fi_gemm(1, 0, out, in, nb, alpha, d, out, rx, in, 1.0f, hw, in);
  }
  if (h[1]) bias_sum(c, rd, alpha, h[1]);
}

static void dense_rop_backward(const fi_lctx *c, const float *d, const float *rd,
                               const float *const *v, float *rdx) {
  int64_t in = c->l->in, out = c->l->out;
  fi_gemm(0, 0, c->nb, in, out, 1.0f, rd, out, c->l->p[0], in, 0.0f, rdx, in);
  if (v[0]) fi_gemm(0, 0, c->nb, in, out, 1.0f, d, out, v[0], in, 1.0f, rdx, in);
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

static void dense_scores(const fi_lctx *c, const float *x, const float *D, const float *const *s,
                         int64_t P, int T, float *scores) {
  int64_t in = c->l->in, out = c->l->out, nb = c->nb;
  if (s[0]) {
    /* g_i.S_t|W = d_i^T S_t x_i: Y = X S_t^T [nb, out], then row-wise dots
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
        Sst = s[0] + t0 * P;
      } else {
        float *sb = fi_scratch_get(c->scratch, 0, (size_t)(nt * out * in));
        for (int64_t t = 0; t < nt; t++)
          memcpy(sb + t * out * in, s[0] + (t0 + t) * P, (size_t)(out * in) * sizeof(float));
        Sst = sb;
      }
      float *Y = fi_scratch_get(c->scratch, 1, (size_t)(nb * nt * out));
      fi_gemm(0, 1, nb, nt * out, in, 1.0f, x, in, Sst, in, 0.0f, Y, nt * out);
      for (int64_t t = 0; t < nt; t++)
        for (int64_t i = 0; i < nb; i++)
          scores[(t0 + t) * nb + i] -= dotf(D + i * out, Y + i * nt * out + t * out, out);
    }
  }
  if (s[1]) {
    for (int t = 0; t < T; t++) {
      const float *sb = s[1] + (int64_t)t * P;
      for (int64_t i = 0; i < nb; i++) {
        const float *di = D + i * out;
        double acc = 0;
        for (int64_t o = 0; o < out; o++) acc += (double)di[o] * sb[o];
        scores[(int64_t)t * nb + i] -= (float)acc;
      }
    }
  }
}

const fi_layer_kind fi_layer_dense = {
    .name = "dense", .factored = 1, .declare = dense_declare, .init = dense_init,
    .forward = dense_forward, .backward = dense_backward, .grad = dense_grad,
    .grad_row = dense_grad_row, .rop = dense_rop, .rop_grad = dense_rop_grad,
    .rop_backward = dense_rop_backward, .scores = dense_scores};
