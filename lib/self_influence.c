/* self_influence.c - g_i^T (C + lambda)^-1 g_i for every training record
 * (self_influence.h), from the factors: per layer, a Kronecker block's
 * gradient in its eigenbasis is D'_i = sum_t (Q_G^T delta_t)(Q_A^T abar_t)^T,
 * so the score is sum (D'_i)^2 / (eig + lambda): the rows of a group are
 * rotated by two GEMMs, and with one row per record the sum is one more
 * GEMM, (abar'^2) inv^T, dotted with delta'^2. A layer under diagonal
 * blocks is the same with no rotation. O(r (in^2 + out^2)) per record, not
 * O(in out (in + out)); whole dense records go through fi_curv_inverse. */
#include "self_influence.h"

#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "grad_records.h"
#include "influence.h"

typedef struct {
  const float *QA, *QG;  /* the eigenbases, or NULL (diagonal blocks) */
  float *inv;            /* [out, k]: 1 / (eig + lambda), 0 where not positive */
  int64_t in, out, k;
  int has_w, has_b;
  float *A, *D, *A2, *D2, *T, *M; /* the group's rows, rotated, products */
  int64_t *cnt, rcap;
} slayer;

typedef struct {
  int part;              /* the layout's dense part */
  const float *diag;
  double lam;
} sdense;

static float inv_of(double e, double lam) { return e + lam > 0 ? (float)(1.0 / (e + lam)) : 0; }

static const fi_cblock *block_named(const fi_curv *c, const char *name, int *i) {
  for (*i = 0; *i < c->nblocks; (*i)++)
    if (!strcmp(c->b[*i].name, name)) return &c->b[*i];
  return NULL;
}

/* The layer's inverse eigenvalues [out, k] from its Kronecker block, or
 * from the diagonal blocks of its weight and bias. */
static void layer_setup(const fi_curv *c, const double *lam, const fi_grad_layout *L, int j,
                        slayer *s, const fi_record *rec) {
  const fi_grad_layer *gl = &L->layers[j];
  s->in = gl->in;
  s->out = gl->out;
  s->has_w = gl->weight >= 0;
  s->has_b = gl->bias >= 0;
  s->k = (s->has_w ? s->in : 0) + s->has_b;
  const int64_t k = s->k, out = s->out;
  s->inv = fi_aligned(out * k > 0 ? out * k : 1, sizeof(float));
  int bi;
  const fi_cblock *b = block_named(c, gl->name, &bi);
  if (b && b->kind == FI_CBLOCK_KRON) {
    if (b->k != k || b->out != out)
      fi_rec_die(rec, "layer '%s' is [%lld, %lld] here, [%lld, %lld] in the curvature", gl->name,
                 (long long)out, (long long)k, (long long)b->out, (long long)b->k);
    s->QA = b->QA;
    s->QG = b->QG;
    for (int64_t o = 0; o < out; o++)
      for (int64_t a = 0; a < k; a++)
        s->inv[o * k + a] = inv_of(b->eig ? b->eig[o * k + a] : (double)b->eigG[o] * b->eigA[a], lam[bi]);
    return;
  }
  const fi_cblock *bw = s->has_w ? block_named(c, L->parts[gl->weight].pname, &bi) : NULL;
  double lw = bw ? lam[bi] : 0;
  const fi_cblock *bb = s->has_b ? block_named(c, L->parts[gl->bias].pname, &bi) : NULL;
  double lb = bb ? lam[bi] : 0;
  if ((s->has_w && (!bw || bw->kind != FI_CBLOCK_DIAG || bw->numel != s->in * out)) ||
      (s->has_b && (!bb || bb->kind != FI_CBLOCK_DIAG || bb->numel != out)))
    fi_rec_die(rec, "the curvature has no block for layer '%s'", gl->name);
  for (int64_t o = 0; o < out; o++) {
    if (s->has_w)
      for (int64_t a = 0; a < s->in; a++) s->inv[o * k + a] = inv_of(bw->diag[o * s->in + a], lw);
    if (s->has_b) s->inv[o * k + k - 1] = inv_of(bb->diag[o], lb);
  }
}

static void layer_free(slayer *s) {
  free(s->inv);
  free(s->A);
  free(s->D);
  free(s->A2);
  free(s->D2);
  free(s->T);
  free(s->M);
  free(s->cnt);
}

/* Adds layer s's share of the scores of the n records of the group whose
 * rows are in s->A, s->D (cnt rows each). */
static void layer_scores(slayer *s, int64_t n, int64_t R, double *score) {
  const int64_t k = s->k, out = s->out;
  if (R == 0) return;
  const float *A = s->A, *D = s->D;
  if (s->QA) {
    fi_gemm(0, 0, R, k, k, 1, s->A, k, s->QA, k, 0, s->A2, k);
    fi_gemm(0, 0, R, out, out, 1, s->D, out, s->QG, out, 0, s->D2, out);
    A = s->A2;
    D = s->D2;
  }
  int single = 1;
  for (int64_t i = 0; i < n; i++) single &= s->cnt[i] == 1;
  if (single) { /* D'_i^2 = (delta'^2)(abar'^2)^T: T = abar'^2 inv^T, then dot delta'^2 */
    float *a2 = s->A2, *d2 = s->D2;
    for (int64_t e = 0; e < R * k; e++) a2[e] = A[e] * A[e];
    for (int64_t e = 0; e < R * out; e++) d2[e] = D[e] * D[e];
    fi_gemm(0, 1, R, out, k, 1, a2, k, s->inv, k, 0, s->T, out);
    for (int64_t i = 0; i < R; i++) {
      double t = 0;
      for (int64_t o = 0; o < out; o++) t += (double)s->T[i * out + o] * d2[i * out + o];
      score[i] += t;
    }
    return;
  }
  for (int64_t i = 0, row = 0; i < n; row += s->cnt[i++]) {
    if (s->cnt[i] == 0) continue;
    fi_gemm(1, 0, out, k, s->cnt[i], 1, D + row * out, out, A + row * k, k, 0, s->M, k);
    double t = 0;
    for (int64_t e = 0; e < out * k; e++) t += (double)s->M[e] * s->M[e] * s->inv[e];
    score[i] += t;
  }
}

/* Whole dense records: densified, through the inverse. */
static void dense_scores(const fi_curv *c, const double *lam, fi_curv_ws *ws, int64_t n,
                         const float *G, float *S, double *score) {
  fi_curv_inverse(c, lam, ws, n, G, S);
  for (int64_t i = 0; i < n; i++) {
    double t = 0;
    for (int64_t e = 0; e < c->P; e++) t += (double)G[i * c->P + e] * S[i * c->P + e];
    score[i] = t;
  }
}

int64_t fi_self_influence(const fi_curv *c, const double *lam, int64_t group, fi_reader *r,
                          fi_writer *w, fi_err *e) {
  const int64_t P = c->P;
  fi_grad_layout *L = NULL;
  fi_grad_view *v = NULL;
  slayer *sl = NULL;
  sdense *sd = NULL;
  int nsd = 0;
  float *G = NULL, *S = NULL; /* whole dense records only */
  fi_curv_ws *ws = fi_curv_ws_new(c);
  double *score = fi_calloc(group, sizeof *score);
  char **ids = NULL;
  float *scores = NULL;
  int64_t n = 0, cap = 0, status = 0;
  for (int eof = 0; !eof;) {
    const fi_record *rec;
    int64_t ng = 0;
    memset(score, 0, (size_t)group * sizeof *score);
    while (ng < group && (rec = fi_read(r))) {
      if (!L) {
        if (!fi_grad_is_record(rec))
          fi_rec_die(rec, "not a gradient record (\"grad\", or \"params\" with factors a.NAME / "
                     "delta.NAME or dense parts grad.PNAME)");
        L = fi_grad_layout_new(rec, -1);
        v = fi_grad_view_new(L);
        if (fi_curv_check_layout(c, L, L->P, L->params, e)) {
          status = -1;
          break;
        }
        if (L->whole) {
          G = fi_aligned(fi_mul_size(group, P, "self-influence group"), sizeof(float));
          S = fi_aligned(fi_mul_size(group, P, "self-influence group"), sizeof(float));
        }
        sl = fi_calloc(L->nlayers ? L->nlayers : 1, sizeof *sl);
        for (int j = 0; j < L->nlayers; j++) {
          layer_setup(c, lam, L, j, &sl[j], rec);
          sl[j].cnt = fi_calloc(group, sizeof *sl[j].cnt);
        }
        sd = fi_calloc(L->nparts ? L->nparts : 1, sizeof *sd);
        for (int q = 0; q < L->nparts; q++) {
          if (L->parts[q].kind != FI_GPART_DENSE) continue;
          int bi;
          const fi_cblock *b = block_named(c, L->parts[q].pname, &bi);
          if (!b || b->kind != FI_CBLOCK_DIAG || b->numel != L->parts[q].numel)
            fi_rec_die(rec, "the curvature has no diagonal block for '%s'", L->parts[q].pname);
          sd[nsd++] = (sdense){.part = q, .diag = b->diag, .lam = lam[bi]};
        }
      }
      fi_grad_read(L, rec, v);
      if (L->whole) {
        fi_grad_densify(L, v, G + ng * P);
      }
      for (int j = 0; j < L->nlayers; j++) { /* the record's rows into the layer's group buffer */
        slayer *s = &sl[j];
        const fi_grad_rows *x = &v->layer[j];
        int64_t R = 0;
        for (int64_t i = 0; i < ng; i++) R += s->cnt[i];
        if (R + x->r > s->rcap) {
          int64_t nc = s->rcap ? 2 * s->rcap : 1024;
          while (nc < R + x->r) nc *= 2;
          const int64_t kk = s->k > 0 ? s->k : 1;
          float *A = fi_aligned(fi_mul_size(nc, kk, "rows"), sizeof(float));
          float *D = fi_aligned(fi_mul_size(nc, s->out, "rows"), sizeof(float));
          if (R) {
            memcpy(A, s->A, (size_t)(R * s->k) * sizeof *A);
            memcpy(D, s->D, (size_t)(R * s->out) * sizeof *D);
          }
          free(s->A);
          free(s->D);
          free(s->A2);
          free(s->D2);
          free(s->T);
          s->A = A;
          s->D = D;
          s->A2 = fi_aligned(fi_mul_size(nc, kk, "rows"), sizeof(float));
          s->D2 = fi_aligned(fi_mul_size(nc, s->out, "rows"), sizeof(float));
          s->T = fi_aligned(fi_mul_size(nc, s->out, "rows"), sizeof(float));
          if (!s->M) s->M = fi_aligned(s->out * kk, sizeof(float));
          s->rcap = nc;
        }
        for (int64_t t = 0; t < x->r; t++) {
          float *dst = s->A + (R + t) * s->k;
          if (s->has_w) memcpy(dst, x->a + t * s->in, (size_t)s->in * sizeof *dst);
          if (s->has_b) dst[s->k - 1] = 1;
        }
        memcpy(s->D + R * s->out, x->delta, (size_t)(x->r * s->out) * sizeof(float));
        s->cnt[ng] = x->r;
      }
      for (int q = 0; q < nsd; q++) {
        const float *g = v->dense[sd[q].part];
        double t = 0;
        for (int64_t i = 0; i < L->parts[sd[q].part].numel; i++) t += (double)g[i] * g[i] * inv_of(sd[q].diag[i], sd[q].lam);
        score[ng] += t;
      }
      if (n + ng == cap) {
        cap = cap ? 2 * cap : 1024;
        ids = fi_realloc(ids, fi_mul_size(cap, sizeof *ids, "ids"));
        scores = fi_realloc(scores, fi_mul_size(cap, sizeof *scores, "scores"));
      }
      ids[n + ng] = fi_strdup(fi_rec_id(rec));
      ng++;
    }
    if (ng < group) eof = 1;
    if (status || ng == 0) break;
    if (L->whole) dense_scores(c, lam, ws, ng, G, S, score);
    for (int j = 0; j < L->nlayers; j++) {
      int64_t R = 0;
      for (int64_t i = 0; i < ng; i++) R += sl[j].cnt[i];
      layer_scores(&sl[j], ng, R, score);
    }
    for (int64_t i = 0; i < ng; i++) scores[n + i] = (float)score[i];
    n += ng;
    fi_progress("self-influence: %lld training records", (long long)n);
  }
  if (!status && n == 0) fi_die("no gradient records on %s", fi_reader_name(r));
  if (!status) fi_scores_write(w, "self", (const char *const *)ids, scores, n);
  for (int64_t i = 0; i < n; i++) free(ids[i]);
  for (int j = 0; sl && j < L->nlayers; j++) layer_free(&sl[j]);
  free(sl);
  free(sd);
  free(ids);
  free(scores);
  free(score);
  free(G);
  free(S);
  fi_curv_ws_free(ws);
  fi_grad_view_free(v);
  fi_grad_layout_free(L);
  return status ? -1 : n;
}
