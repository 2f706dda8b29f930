/* curvature_inverse.c - s = (C + lambda)^-1 v for a fitted curvature
 * (curvature.h): per Kronecker block, rotate into the eigenbases, divide by
 * the eigenvalues plus the ridge, rotate back. The m vectors of a group go
 * through each rotation together: V Q_A is one GEMM over all m [out, k]
 * matrices stacked, Q_G^T (.) one GEMM per vector. */
#include "curvature.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"

struct fi_curv_ws {
  float *X, *Y;     /* [m, out, k] of the largest block */
  float *inv;       /* [out, k] */
  int64_t xcap, ycap, icap; /* their sizes in floats */
};

fi_curv_ws *fi_curv_ws_new(const fi_curv *c) { return fi_calloc(1, sizeof(fi_curv_ws)); }

void fi_curv_ws_free(fi_curv_ws *ws) {
  if (!ws) return;
  free(ws->X);
  free(ws->Y);
  free(ws->inv);
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
  return fi_aligned(fi_mul_size(n, 1, "curvature workspace"), sizeof(float));
}

static void kron_inverse(const fi_cblock *b, double lam, fi_curv_ws *ws, int64_t m, const float *V,
                         float *S, int64_t P) {
  const int64_t k = b->k, out = b->out, in = b->in, mk = out * k;
  ws->X = grow(ws->X, &ws->xcap, m * mk);
  ws->Y = grow(ws->Y, &ws->ycap, m * mk);
  ws->inv = grow(ws->inv, &ws->icap, mk);
  for (int64_t o = 0; o < out; o++)
    for (int64_t j = 0; j < k; j++) {
      double e = b->eig ? b->eig[o * k + j] : (double)b->eigG[o] * b->eigA[j];
      ws->inv[o * k + j] = e + lam > 0 ? (float)(1.0 / (e + lam)) : 0;
    }
  float *X = ws->X, *Y = ws->Y;
  for (int64_t s = 0; s < m; s++) /* gather [out, k]: the weight's columns, the bias last */
    for (int64_t o = 0; o < out; o++) {
      float *x = X + s * mk + o * k;
      if (b->off_w >= 0) memcpy(x, V + s * P + b->off_w + o * in, (size_t)in * sizeof *x);
      if (b->off_b >= 0) x[k - 1] = V[s * P + b->off_b + o];
    }
  fi_gemm(0, 0, m * out, k, k, 1, X, k, b->QA, k, 0, Y, k);
  for (int64_t s = 0; s < m; s++) fi_gemm(1, 0, out, k, out, 1, b->QG, out, Y + s * mk, k, 0, X + s * mk, k);
  for (int64_t s = 0; s < m; s++)
    for (int64_t e = 0; e < mk; e++) X[s * mk + e] *= ws->inv[e];
  for (int64_t s = 0; s < m; s++) fi_gemm(0, 0, out, k, out, 1, b->QG, out, X + s * mk, k, 0, Y + s * mk, k);
  fi_gemm(0, 1, m * out, k, k, 1, Y, k, b->QA, k, 0, X, k);
  for (int64_t s = 0; s < m; s++)
    for (int64_t o = 0; o < out; o++) {
      const float *x = X + s * mk + o * k;
      if (b->off_w >= 0) memcpy(S + s * P + b->off_w + o * in, x, (size_t)in * sizeof *x);
      if (b->off_b >= 0) S[s * P + b->off_b + o] = x[k - 1];
    }
}

void fi_curv_inverse(const fi_curv *c, const double *lam, fi_curv_ws *ws, int64_t m,
                     const float *V, float *S) {
  const int64_t P = c->P;
  for (int i = 0; i < c->nblocks; i++) {
    const fi_cblock *b = &c->b[i];
    if (b->kind == FI_CBLOCK_KRON) {
      kron_inverse(b, lam[i], ws, m, V, S, P);
      continue;
    }
    for (int64_t s = 0; s < m; s++)
      for (int64_t e = 0; e < b->numel; e++) {
        double d = (double)b->diag[e] + lam[i];
        S[s * P + b->off + e] = d > 0 ? (float)(V[s * P + b->off + e] / d) : 0;
      }
  }
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
