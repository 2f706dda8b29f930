/* fisher_oracle.c - the empirical Fisher of a training gradient stream as
 * an oracle (fisher_oracle.h). Per layer the rows abar (a, and a 1 for a
 * bias) and delta of all records are held end to end, with each record's
 * first row; a product gathers a chunk of the batch's rows and does, per
 * layer, U = Abar V^T (GEMM), c_i += sum over i's rows of U . Delta, then
 * (after every layer and dense part gave its share of c) Out += (c-scaled
 * Delta)^T Abar (GEMM). */
#include "fisher_oracle.h"

#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "grad_records.h"
#include "stream.h"

typedef struct {
  int64_t in, out, k, off_w, off_b;
  float *A, *D;        /* [rows, k], [rows, out] */
  int64_t *first;      /* [N + 1]: record i's rows are first[i] .. first[i+1] */
  int64_t rows, cap;
} flayer;

typedef struct {
  int64_t off, numel;
  float *g;            /* [N, numel] */
} fdense;

struct fi_fisher_oracle {
  int64_t N, P;
  char *params;
  int nl, nd;
  flayer *l;
  fdense *d;
  int64_t chunk;
  int nthreads;
  struct fctx *c;
  void **ptrs;
};

typedef struct fctx {
  const fi_fisher_oracle *fo;
  float *Ab, *Db, *U;  /* gathered rows of the largest layer [rcap, k|out], U [rcap, out] */
  int64_t rcap;
  float *Vl, *Ol;      /* a layer's [out, k] of v and of the product */
  float *c;            /* [chunk] */
  int64_t *ex;         /* [chunk] */
  double *acc;         /* [P] */
} fctx;

static void grow_rows(flayer *l, int64_t need) {
  if (need <= l->cap) return;
  int64_t cap = l->cap ? l->cap : 1024;
  while (cap < need) cap *= 2;
  l->A = fi_realloc(l->A, fi_mul_size(fi_mul_size(cap, l->k ? l->k : 1, "Fisher rows"), sizeof(float), "Fisher rows"));
  l->D = fi_realloc(l->D, fi_mul_size(fi_mul_size(cap, l->out, "Fisher rows"), sizeof(float), "Fisher rows"));
  l->cap = cap;
}

static void load(fi_fisher_oracle *fo, const char *path) {
  fi_reader *r = fi_reader_open(path);
  fi_grad_layout *L = NULL;
  fi_grad_view *v = NULL;
  int64_t ncap = 0;
  const fi_record *rec;
  while ((rec = fi_read(r))) {
    if (!L) {
      if (!fi_grad_is_record(rec))
        fi_rec_die(rec, "not a gradient record (\"grad\", or \"params\" with factors a.NAME / "
                   "delta.NAME or dense parts grad.PNAME)");
      L = fi_grad_layout_new(rec, -1);
      v = fi_grad_view_new(L);
      fo->P = L->P;
      fo->params = L->params ? fi_strdup(L->params) : NULL;
      fo->nl = L->whole ? 0 : L->nlayers;
      fo->l = fi_calloc(fo->nl ? fo->nl : 1, sizeof *fo->l);
      for (int j = 0; j < fo->nl; j++) {
        const fi_grad_layer *gl = &L->layers[j];
        flayer *l = &fo->l[j];
        l->in = gl->in;
        l->out = gl->out;
        l->off_w = gl->weight >= 0 ? L->parts[gl->weight].off : -1;
        l->off_b = gl->bias >= 0 ? L->parts[gl->bias].off : -1;
        l->k = (l->off_w >= 0 ? l->in : 0) + (l->off_b >= 0);
      }
      fo->d = fi_calloc(L->whole ? 1 : L->nparts, sizeof *fo->d);
      if (L->whole) fo->d[fo->nd++] = (fdense){.off = 0, .numel = L->P};
      for (int i = 0; !L->whole && i < L->nparts; i++)
        if (L->parts[i].kind == FI_GPART_DENSE)
          fo->d[fo->nd++] = (fdense){.off = L->parts[i].off, .numel = L->parts[i].numel};
    }
    fi_grad_read(L, rec, v);
    if (fo->N == ncap) {
      ncap = ncap ? 2 * ncap : 1024;
      for (int j = 0; j < fo->nl; j++)
        fo->l[j].first = fi_realloc(fo->l[j].first, fi_mul_size(ncap + 1, sizeof(int64_t), "Fisher"));
      for (int q = 0; q < fo->nd; q++)
        fo->d[q].g = fi_realloc(fo->d[q].g, fi_mul_size(fi_mul_size(ncap, fo->d[q].numel, "Fisher"),
                                                          sizeof(float), "Fisher"));
    }
    for (int j = 0; j < fo->nl; j++) {
      flayer *l = &fo->l[j];
      const fi_grad_rows *x = &v->layer[j];
      l->first[fo->N] = l->rows;
      grow_rows(l, l->rows + x->r);
      for (int64_t t = 0; t < x->r; t++) {
        float *dst = l->A + (l->rows + t) * l->k;
        if (l->off_w >= 0) memcpy(dst, x->a + t * l->in, (size_t)l->in * sizeof *dst);
        if (l->off_b >= 0) dst[l->k - 1] = 1;
      }
      memcpy(l->D + l->rows * l->out, x->delta, (size_t)(x->r * l->out) * sizeof(float));
      l->rows += x->r;
      l->first[fo->N + 1] = l->rows;
    }
    for (int q = 0, i = 0; q < fo->nd; q++) {
      const float *src;
      if (L->whole) src = v->g;
      else {
        while (L->parts[i].kind != FI_GPART_DENSE) i++;
        src = v->dense[i++];
      }
      memcpy(fo->d[q].g + fo->N * fo->d[q].numel, src, (size_t)fo->d[q].numel * sizeof(float));
    }
    fo->N++;
    if (fo->N % 4096 == 0) fi_progress("%s: %lld training gradients read", fi_reader_name(r), (long long)fo->N);
  }
  if (fo->N == 0) fi_die("no gradient records on %s", fi_reader_name(r));
  fi_reader_close(r);
  fi_grad_view_free(v);
  fi_grad_layout_free(L);
}

/* The block [out, k] of vector x (weight columns, bias last) into X. */
static void gather_block(const flayer *l, const float *x, float *X) {
  for (int64_t o = 0; o < l->out; o++) {
    if (l->off_w >= 0) memcpy(X + o * l->k, x + l->off_w + o * l->in, (size_t)l->in * sizeof *X);
    if (l->off_b >= 0) X[o * l->k + l->k - 1] = x[l->off_b + o];
  }
}

/* The rows of examples ex[0..n) of layer l into Ab, Db; returns their count. */
static int64_t gather_rows(fctx *c, const flayer *l, const int64_t *ex, int64_t n) {
  int64_t R = 0;
  for (int64_t i = 0; i < n; i++) R += l->first[ex[i] + 1] - l->first[ex[i]];
  if (R > c->rcap) {
    free(c->Ab);
    free(c->Db);
    free(c->U);
    c->rcap = R;
    int64_t kmax = 1, omax = 1;
    for (int j = 0; j < c->fo->nl; j++) {
      if (c->fo->l[j].k > kmax) kmax = c->fo->l[j].k;
      if (c->fo->l[j].out > omax) omax = c->fo->l[j].out;
    }
    c->Ab = fi_aligned(fi_mul_size(R, kmax, "Fisher batch"), sizeof(float));
    c->Db = fi_aligned(fi_mul_size(R, omax, "Fisher batch"), sizeof(float));
    c->U = fi_aligned(fi_mul_size(R, omax, "Fisher batch"), sizeof(float));
  }
  for (int64_t i = 0, row = 0; i < n; i++) {
    int64_t f = l->first[ex[i]], r = l->first[ex[i] + 1] - f;
    memcpy(c->Ab + row * l->k, l->A + f * l->k, (size_t)(r * l->k) * sizeof(float));
    memcpy(c->Db + row * l->out, l->D + f * l->out, (size_t)(r * l->out) * sizeof(float));
    row += r;
  }
  return R;
}

/* acc += (w/nb-weighted) F over examples ex[0..n) applied to v. */
static void chunk_product(fctx *c, const int64_t *ex, int64_t n, double w, const float *v) {
  const fi_fisher_oracle *fo = c->fo;
  memset(c->c, 0, (size_t)n * sizeof *c->c);
  for (int j = 0; j < fo->nl; j++) { /* c_i += sum_t delta_t . (V abar_t) */
    const flayer *l = &fo->l[j];
    int64_t R = gather_rows(c, l, ex, n);
    if (R == 0) continue;
    gather_block(l, v, c->Vl);
    fi_gemm(0, 1, R, l->out, l->k, 1, c->Ab, l->k, c->Vl, l->k, 0, c->U, l->out);
    for (int64_t i = 0, row = 0; i < n; i++)
      for (int64_t e = l->first[ex[i]]; e < l->first[ex[i] + 1]; e++, row++) {
        const float *u = c->U + row * l->out, *d = c->Db + row * l->out;
        float s = 0;
        for (int64_t o = 0; o < l->out; o++) s += u[o] * d[o];
        c->c[i] += s;
      }
  }
  for (int q = 0; q < fo->nd; q++) {
    const fdense *d = &fo->d[q];
    for (int64_t i = 0; i < n; i++) {
      const float *g = d->g + ex[i] * d->numel;
      double s = 0;
      for (int64_t e = 0; e < d->numel; e++) s += (double)g[e] * v[d->off + e];
      c->c[i] += (float)s;
    }
  }
  for (int j = 0; j < fo->nl; j++) { /* Out = sum_i c_i sum_t delta_t abar_t^T */
    const flayer *l = &fo->l[j];
    int64_t R = gather_rows(c, l, ex, n);
    if (R == 0) continue;
    for (int64_t i = 0, row = 0; i < n; i++)
      for (int64_t e = l->first[ex[i]]; e < l->first[ex[i] + 1]; e++, row++)
        for (int64_t o = 0; o < l->out; o++) c->Db[row * l->out + o] *= c->c[i];
    fi_gemm(1, 0, l->out, l->k, R, 1, c->Db, l->out, c->Ab, l->k, 0, c->Ol, l->k);
    for (int64_t o = 0; o < l->out; o++) {
      const float *x = c->Ol + o * l->k;
      if (l->off_w >= 0)
        for (int64_t a = 0; a < l->in; a++) c->acc[l->off_w + o * l->in + a] += w * x[a];
      if (l->off_b >= 0) c->acc[l->off_b + o] += w * x[l->k - 1];
    }
  }
  for (int q = 0; q < fo->nd; q++) {
    const fdense *d = &fo->d[q];
    for (int64_t i = 0; i < n; i++) {
      const float *g = d->g + ex[i] * d->numel;
      const double ci = w * c->c[i];
      for (int64_t e = 0; e < d->numel; e++) c->acc[d->off + e] += ci * g[e];
    }
  }
}

static void fisher_apply(void *vctx, const int64_t *idx, int64_t nb, const float *v, float *out) {
  fctx *c = vctx;
  const fi_fisher_oracle *fo = c->fo;
  memset(c->acc, 0, (size_t)fo->P * sizeof *c->acc);
  const double w = 1.0 / (double)nb;
  for (int64_t off = 0; off < nb; off += fo->chunk) {
    int64_t n = nb - off < fo->chunk ? nb - off : fo->chunk;
    for (int64_t i = 0; i < n; i++) c->ex[i] = idx ? idx[off + i] : off + i;
    chunk_product(c, c->ex, n, w, v);
  }
  for (int64_t e = 0; e < fo->P; e++) out[e] = (float)c->acc[e];
}

fi_fisher_oracle *fi_fisher_oracle_new(const char *path, int nthreads, int64_t chunk,
                                       fi_oracle *out) {
  fi_fisher_oracle *fo = fi_calloc(1, sizeof *fo);
  load(fo, path);
  if (nthreads < 1) nthreads = 1;
  fo->chunk = chunk < 1 ? 1 : chunk < fo->N ? chunk : fo->N;
  fo->nthreads = nthreads;
  fo->c = fi_calloc(nthreads, sizeof *fo->c);
  fo->ptrs = fi_calloc(nthreads, sizeof *fo->ptrs);
  int64_t blk = 1;
  for (int j = 0; j < fo->nl; j++)
    if (fo->l[j].out * fo->l[j].k > blk) blk = fo->l[j].out * fo->l[j].k;
  for (int t = 0; t < nthreads; t++) {
    fctx *c = &fo->c[t];
    c->fo = fo;
    c->Vl = fi_aligned(blk, sizeof(float));
    c->Ol = fi_aligned(blk, sizeof(float));
    c->c = fi_malloc(fi_mul_size(fo->chunk, sizeof *c->c, "Fisher chunk"));
    c->ex = fi_malloc(fi_mul_size(fo->chunk, sizeof *c->ex, "Fisher chunk"));
    c->acc = fi_malloc(fi_mul_size(fo->P, sizeof *c->acc, "Fisher product"));
    fo->ptrs[t] = c;
  }
  *out = (fi_oracle){.apply = fisher_apply, .ctx = fo->ptrs, .nthreads = nthreads, .P = fo->P,
                     .N = fo->N, .name = "empirical Fisher"};
  return fo;
}

void fi_fisher_oracle_free(fi_fisher_oracle *fo) {
  if (!fo) return;
  for (int t = 0; t < fo->nthreads; t++) {
    fctx *c = &fo->c[t];
    free(c->Ab);
    free(c->Db);
    free(c->U);
    free(c->Vl);
    free(c->Ol);
    free(c->c);
    free(c->ex);
    free(c->acc);
  }
  for (int j = 0; j < fo->nl; j++) {
    free(fo->l[j].A);
    free(fo->l[j].D);
    free(fo->l[j].first);
  }
  for (int q = 0; q < fo->nd; q++) free(fo->d[q].g);
  free(fo->l);
  free(fo->d);
  free(fo->c);
  free(fo->ptrs);
  free(fo->params);
  free(fo);
}

int fi_fisher_oracle_check(const fi_fisher_oracle *fo, int64_t P, const char *params, fi_err *e) {
  if (P != fo->P)
    return fi_err_set(e, FI_ERR_DATA, "fisher",
                      "the test gradients have %lld values, the training gradients %lld",
                      (long long)P, (long long)fo->P);
  if (params && fo->params && strcmp(params, fo->params))
    return fi_err_set(e, FI_ERR_DATA, "fisher",
                      "the test gradients are over params '%s', the training gradients over '%s'",
                      params, fo->params);
  return 0;
}

const char *fi_fisher_oracle_params(const fi_fisher_oracle *fo) { return fo->params; }
