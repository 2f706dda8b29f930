/* curvature_inverse.c - s = (C + lambda)^-1 v for a fitted curvature
 * (curvature.h): per Kronecker block, rotate into the eigenbases, divide by
 * the eigenvalues plus the ridge, rotate back. The m vectors of a group go
 * through each rotation together, stacked as one [out, m k] matrix (row o
 * holds row o of every vector's [out, k] block), so each rotation is one
 * GEMM over the group: [out m, k] x Q_A and Q_G x [out, m k]. A test
 * gradient that comes as layer factors is rotated as its rows,
 * Q_G^T (sum_t delta_t abar_t^T) Q_A = (Delta Q_G)^T (Abar Q_A): r (k^2 +
 * out^2) per record instead of out k (out + k), and never densified. */
#include "curvature.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"

/* Rows per record up to which the rotated factors are multiplied out by a
 * loop fused with the division; above, one GEMM of inner size r per record. */
#define FUSE_ROWS 8

struct fi_curv_ws {
  float *X, *Y;     /* [out, m k] of the largest block */
  float *inv;       /* [out, k] */
  float *abar, *U, *W; /* a group's rows: abar [R, k], abar Q_A [R, k], delta Q_G [R, out] */
  float *part[2];   /* a factored part's values, densified (weight, bias) */
  int64_t xcap, ycap, icap, acap, ucap, wcap, pcap[2]; /* their sizes in floats */
};

fi_curv_ws *fi_curv_ws_new(const fi_curv *c) { return fi_calloc(1, sizeof(fi_curv_ws)); }

void fi_curv_ws_free(fi_curv_ws *ws) {
  if (!ws) return;
  free(ws->X);
  free(ws->Y);
  free(ws->inv);
  free(ws->abar);
  free(ws->U);
  free(ws->W);
  free(ws->part[0]);
  free(ws->part[1]);
  free(ws);
}

/* The block's mean eigenvalue: of eig (ekfac), of eigG eigA^T (kfac: the
 * product of the two means), or of its diagonal. */
static double mean_eig(const fi_cblock *b, int kfac) {
  double s = 0;
  if (b->kind == FI_CBLOCK_DIAG) {
    for (int64_t e = 0; e < b->numel; e++) s += b->diag[e];
    return b->numel ? s / (double)b->numel : 0;
  }
  if (b->eig && !kfac) {
    for (int64_t e = 0; e < b->out * b->k; e++) s += b->eig[e];
    return s / (double)(b->out * b->k);
  }
  double sa = 0, sg = 0;
  for (int64_t j = 0; j < b->k; j++) sa += b->eigA[j];
  for (int64_t o = 0; o < b->out; o++) sg += b->eigG[o];
  return (sa / (double)b->k) * (sg / (double)b->out);
}

void fi_curv_lambdas(const fi_curv *c, const fi_curv_ridge *rg, double *lam) {
  for (int i = 0; i < c->nblocks; i++) lam[i] = rg->shift >= 0 ? rg->shift : rg->damping * mean_eig(&c->b[i], rg->kfac);
}

static float *grow(float *p, int64_t *cap, int64_t n) {
  if (n <= *cap) return p;
  free(p);
  *cap = n;
  return fi_aligned(fi_mul_size(n > 0 ? n : 1, 1, "curvature workspace"), sizeof(float));
}

/* Record s's values of the parameters [off, off + numel): in its vector,
 * or, where the group keeps that part as factors, densified into part[slot]. */
static const float *values(const fi_grad_group *fg, fi_curv_ws *ws, const float *V, int64_t P,
                           int64_t s, int64_t off, int64_t numel, int slot) {
  const fi_grad_layout *L = fg ? fi_grad_group_layout(fg) : NULL;
  for (int i = 0; L && i < L->nparts; i++) {
    const fi_grad_part *pt = &L->parts[i];
    if (pt->kind == FI_GPART_DENSE || off + numel <= pt->off || pt->off + pt->numel <= off) continue;
    if (pt->off != off || pt->numel != numel) /* fi_curv_check_layout refuses such records */
      fi_die("the curvature's block at %lld (%lld values) is not a part of the gradient records",
             (long long)off, (long long)numel);
    ws->part[slot] = grow(ws->part[slot], &ws->pcap[slot], numel);
    const fi_grad_rows x = fi_grad_group_rows(fg, pt->layer, s);
    fi_grad_part_values(L, i, &x, ws->part[slot]);
    return ws->part[slot];
  }
  return V + s * P + off;
}

/* The layout's layer whose factors make block b's [out, k] matrix (its
 * weight and bias at the block's offsets), or -1. */
static int factored_layer(const fi_grad_group *fg, const fi_cblock *b) {
  const fi_grad_layout *L = fg ? fi_grad_group_layout(fg) : NULL;
  for (int l = 0; L && l < L->nlayers; l++) {
    const fi_grad_layer *gl = &L->layers[l];
    const int64_t ow = gl->weight >= 0 ? L->parts[gl->weight].off : -1;
    const int64_t ob = gl->bias >= 0 ? L->parts[gl->bias].off : -1;
    if (!strcmp(gl->name, b->name) && gl->out == b->out && ow == b->off_w && ob == b->off_b &&
        (ow < 0 || gl->in == b->in))
      return l;
  }
  return -1;
}

/* X [out, m k] = the m vectors' blocks rotated, Q_G^T V_s Q_A, from their
 * dense values. */
static void rotate_dense(const fi_cblock *b, fi_curv_ws *ws, int64_t m, const float *V, int64_t P,
                         const fi_grad_group *fg) {
  const int64_t k = b->k, out = b->out, in = b->in;
  float *X = ws->X, *Y = ws->Y;
  for (int64_t s = 0; s < m; s++) { /* gather: row o of vector s is row o m + s; the bias last */
    const float *vw = b->off_w >= 0 ? values(fg, ws, V, P, s, b->off_w, in * out, 0) : NULL;
    const float *vb = b->off_b >= 0 ? values(fg, ws, V, P, s, b->off_b, out, 1) : NULL;
    for (int64_t o = 0; o < out; o++) {
      float *x = X + (o * m + s) * k;
      if (vw) memcpy(x, vw + o * in, (size_t)in * sizeof *x);
      if (vb) x[k - 1] = vb[o];
    }
  }
  fi_gemm(0, 0, out * m, k, k, 1, X, k, b->QA, k, 0, Y, k);
  fi_gemm(1, 0, out, m * k, out, 1, b->QG, out, Y, m * k, 0, X, m * k);
  for (int64_t o = 0; o < out; o++)
    for (int64_t s = 0; s < m; s++) {
      float *x = X + (o * m + s) * k;
      const float *iv = ws->inv + o * k;
      for (int64_t j = 0; j < k; j++) x[j] *= iv[j];
    }
}

/* The same, divided, from the group's rows of layer l: U = abar Q_A and
 * W = delta Q_G for all rows at once, then per record
 * sum_t W_t U_t^T (outer products, or a GEMM for many rows). */
static void rotate_factors(const fi_cblock *b, fi_curv_ws *ws, int64_t m, const fi_grad_group *fg,
                           int l) {
  const fi_grad_layer *gl = &fi_grad_group_layout(fg)->layers[l];
  const int64_t k = b->k, out = b->out, in = gl->in, mk = m * k;
  const int64_t *row0;
  const fi_grad_rows x = fi_grad_group_layer(fg, l, &row0);
  const int64_t R = x.r;
  ws->abar = grow(ws->abar, &ws->acap, R * k);
  ws->U = grow(ws->U, &ws->ucap, R * k);
  ws->W = grow(ws->W, &ws->wcap, R * out);
  for (int64_t t = 0; t < R; t++) {
    float *ab = ws->abar + t * k;
    if (gl->weight >= 0) memcpy(ab, x.a + t * in, (size_t)in * sizeof *ab);
    if (gl->bias >= 0) ab[k - 1] = 1;
  }
  if (R > 0) {
    fi_gemm(0, 0, R, k, k, 1, ws->abar, k, b->QA, k, 0, ws->U, k);
    fi_gemm(0, 0, R, out, out, 1, x.delta, out, b->QG, out, 0, ws->W, out);
  }
  const float *U = ws->U, *W = ws->W;
  float *X = ws->X;
  for (int64_t s = 0; s < m; s++) {
    const int64_t t0 = row0[s], rs = row0[s + 1] - t0;
    if (rs > FUSE_ROWS) {
      fi_gemm(1, 0, out, k, rs, 1, W + t0 * out, out, U + t0 * k, k, 0, X + s * k, mk);
      for (int64_t o = 0; o < out; o++)
        for (int64_t j = 0; j < k; j++) X[o * mk + s * k + j] *= ws->inv[o * k + j];
      continue;
    }
    for (int64_t o = 0; o < out; o++) {
      float *xo = X + o * mk + s * k;
      const float *iv = ws->inv + o * k;
      memset(xo, 0, (size_t)k * sizeof *xo);
      for (int64_t t = t0; t < t0 + rs; t++) {
        const float w = W[t * out + o], *u = U + t * k;
        for (int64_t j = 0; j < k; j++) xo[j] += w * u[j];
      }
      for (int64_t j = 0; j < k; j++) xo[j] *= iv[j];
    }
  }
}

static void kron_inverse(const fi_cblock *b, double lam, fi_curv_ws *ws, int64_t m, const float *V,
                         const fi_grad_group *fg, float *S, int64_t P) {
  const int64_t k = b->k, out = b->out, in = b->in, mk = out * k;
  ws->X = grow(ws->X, &ws->xcap, m * mk);
  ws->Y = grow(ws->Y, &ws->ycap, m * mk);
  ws->inv = grow(ws->inv, &ws->icap, mk);
  for (int64_t o = 0; o < out; o++)
    for (int64_t j = 0; j < k; j++) {
      double e = b->eig ? b->eig[o * k + j] : (double)b->eigG[o] * b->eigA[j];
      ws->inv[o * k + j] = e + lam > 0 ? (float)(1.0 / (e + lam)) : 0;
    }
  const int l = factored_layer(fg, b);
  if (l >= 0) rotate_factors(b, ws, m, fg, l);
  else rotate_dense(b, ws, m, V, P, fg);
  float *X = ws->X, *Y = ws->Y; /* back: Q_G X, then [out m, k] x Q_A^T */
  fi_gemm(0, 0, out, m * k, out, 1, b->QG, out, X, m * k, 0, Y, m * k);
  fi_gemm(0, 1, out * m, k, k, 1, Y, k, b->QA, k, 0, X, k);
  for (int64_t o = 0; o < out; o++)
    for (int64_t s = 0; s < m; s++) {
      const float *x = X + (o * m + s) * k;
      if (b->off_w >= 0) memcpy(S + s * P + b->off_w + o * in, x, (size_t)in * sizeof *x);
      if (b->off_b >= 0) S[s * P + b->off_b + o] = x[k - 1];
    }
}

void fi_curv_inverse_group(const fi_curv *c, const double *lam, fi_curv_ws *ws, int64_t m,
                           const float *V, const fi_grad_group *fg, float *S) {
  const int64_t P = c->P;
  if (fg && fi_grad_group_n(fg) != m)
    fi_die("curvature inverse: %lld vectors, %lld records of factors", (long long)m,
           (long long)fi_grad_group_n(fg));
  for (int i = 0; i < c->nblocks; i++) {
    const fi_cblock *b = &c->b[i];
    if (b->kind == FI_CBLOCK_KRON) {
      kron_inverse(b, lam[i], ws, m, V, fg, S, P);
      continue;
    }
    for (int64_t s = 0; s < m; s++) {
      const float *v = values(fg, ws, V, P, s, b->off, b->numel, 0);
      for (int64_t e = 0; e < b->numel; e++) {
        double d = (double)b->diag[e] + lam[i];
        S[s * P + b->off + e] = d > 0 ? (float)(v[e] / d) : 0;
      }
    }
  }
}

void fi_curv_inverse(const fi_curv *c, const double *lam, fi_curv_ws *ws, int64_t m,
                     const float *V, float *S) {
  fi_curv_inverse_group(c, lam, ws, m, V, NULL, S);
}

int fi_curv_check_vectors(const fi_curv *c, int64_t P, const char *params, fi_err *e) {
  if (P != c->P)
    return fi_err_set(e, FI_ERR_DATA, "curvature",
                      "the gradient records have %lld values, the curvature's training gradients %lld",
                      (long long)P, (long long)c->P);
  if (params && c->params && strcmp(params, c->params))
    return fi_err_set(e, FI_ERR_DATA, "curvature",
                      "the gradient records are over params '%s', the curvature over '%s'", params,
                      c->params);
  return 0;
}

/* The part of L named pname, or NULL. */
static const fi_grad_part *part_named(const fi_grad_layout *L, const char *pname) {
  for (int i = 0; i < L->nparts; i++)
    if (!strcmp(L->parts[i].pname, pname)) return &L->parts[i];
  return NULL;
}

/* Whether parameter NAME.suffix of a kron block is the layout's at off
 * with numel values, and (when factored there) of the block's widths. */
static int kron_part_ok(const fi_grad_layout *L, const fi_cblock *b, const char *suffix, int64_t off,
                        int64_t numel) {
  char pname[512];
  if (snprintf(pname, sizeof pname, "%s.%s", b->name, suffix) >= (int)sizeof pname) return 0;
  const fi_grad_part *pt = part_named(L, pname);
  if (!pt) return off < 0;
  if (off < 0 || pt->off != off || pt->numel != numel) return 0;
  if (pt->kind == FI_GPART_DENSE) return 1; /* no widths to compare: the element counts are all there is */
  const fi_grad_layer *l = &L->layers[pt->layer];
  return l->out == b->out && (pt->kind == FI_GPART_BIAS || l->in == b->in);
}

int fi_curv_check_layout(const fi_curv *c, const fi_grad_layout *L, int64_t P, const char *params,
                         fi_err *e) {
  if (fi_curv_check_vectors(c, P, params, e)) return -1;
  if (!L || L->whole) return 0; /* a whole dense vector: its P and params are all it says */
  for (int i = 0; i < c->nblocks; i++) {
    const fi_cblock *b = &c->b[i];
    int ok;
    if (b->kind == FI_CBLOCK_DIAG) {
      const fi_grad_part *pt = part_named(L, b->name);
      ok = !pt || (pt->off == b->off && pt->numel == b->numel);
      /* a diagonal block may also be one parameter of a factored layer (diag method) */
      if (!pt) ok = !strcmp(b->name, "grad") && L->whole;
    } else {
      ok = kron_part_ok(L, b, "weight", b->off_w, b->in * b->out) &&
           kron_part_ok(L, b, "bias", b->off_b, b->out);
    }
    if (!ok) {
      if (b->kind == FI_CBLOCK_DIAG)
        return fi_err_set(e, FI_ERR_DATA, "curvature",
                          "the curvature's block '%s' (%lld values at %lld) is not laid out as in the "
                          "gradient records", b->name, (long long)b->numel, (long long)b->off);
      return fi_err_set(e, FI_ERR_DATA, "curvature",
                        "the curvature's layer '%s' (in %lld, out %lld) is not laid out as in the gradient "
                        "records", b->name, (long long)b->in, (long long)b->out);
    }
  }
  return 0;
}
