/* curvature.c - K-FAC, EK-FAC and diagonal curvature fitted from training
 * gradient records (curvature.h, formats/curvature.md). Rows of many
 * records are buffered per layer and folded in by one GEMM per buffer, in
 * float, the buffers' sums added in double; memory is the factors and the
 * buffers, whatever the number of records. */
#include "curvature.h"

#include <errno.h>
#include <lapacke.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gemm.h"
#include "grad_records.h"

const char *const fi_curv_methods[] = {"kfac", "ekfac", "diag", NULL};

/* Rows buffered per layer before a GEMM folds them in. */
#define ROWS 1024

typedef struct {
  const fi_grad_layer *gl;
  int64_t in, out, k;     /* k = columns of abar: in (weight selected) + 1 (bias) */
  int has_w, has_b;
  double *A, *G;          /* sums of abar abar^T [k, k], delta delta^T [out, out] */
  double *L;              /* ekfac / diag: sums of squared (rotated) gradients [out, k] */
  float *ra, *rd;         /* buffered rows [cap, k], [cap, out] */
  float *ta, *td;         /* their rotations (ekfac) [cap, k], [cap, out] */
  float *tmp;             /* a GEMM's float result, max(k*k, out*out, out*k) */
  int64_t nrows, cap;
  int64_t *cnt, nex, excap; /* rows of each buffered example (ekfac / diag) */
  const float *QA, *QG;   /* the eigenbases of pass 2 (ekfac), else NULL */
} lacc;

typedef struct {
  const fi_grad_layout *L;
  fi_curv_method method;
  int pass;               /* 1: A, G (kfac, ekfac) or the diagonal (diag); 2: ekfac eigenvalues */
  lacc *la;
  double **dsum;          /* per dense part: sum of g^2 [numel] (NULL for factor parts) */
} fitter;

static void lacc_init(lacc *l, const fi_grad_layout *L, int j) {
  const fi_grad_layer *gl = &L->layers[j];
  memset(l, 0, sizeof *l);
  l->gl = gl;
  l->in = gl->in;
  l->out = gl->out;
  l->has_w = gl->weight >= 0;
  l->has_b = gl->bias >= 0;
  l->k = (l->has_w ? l->in : 0) + l->has_b;
  l->cap = ROWS;
}

/* Allocations for the pass: A and G, or the squared sums L. */
static void lacc_alloc(lacc *l, int need_ag, int need_l) {
  const int64_t k = l->k, out = l->out;
  if (need_ag && !l->A) {
    l->A = fi_calloc(fi_mul_size(k, k, "A"), sizeof *l->A);
    l->G = fi_calloc(fi_mul_size(out, out, "G"), sizeof *l->G);
  }
  if (need_l && !l->L) l->L = fi_calloc(fi_mul_size(out, k, "eigenvalues"), sizeof *l->L);
  if (!l->ra) {
    l->ra = fi_aligned(fi_mul_size(l->cap, k ? k : 1, "rows"), sizeof(float));
    l->rd = fi_aligned(fi_mul_size(l->cap, out, "rows"), sizeof(float));
    int64_t t = k * k > out * out ? k * k : out * out;
    if (out * k > t) t = out * k;
    l->tmp = fi_aligned(t ? t : 1, sizeof(float));
  }
  if (need_l && !l->ta) {
    l->ta = fi_aligned(fi_mul_size(l->cap, k ? k : 1, "rows"), sizeof(float));
    l->td = fi_aligned(fi_mul_size(l->cap, out, "rows"), sizeof(float));
  }
}

static void lacc_free(lacc *l) {
  free(l->A);
  free(l->G);
  free(l->L);
  free(l->ra);
  free(l->rd);
  free(l->ta);
  free(l->td);
  free(l->tmp);
  free(l->cnt);
}

/* n floats, aligned for BLAS (at least one: a layer may have k = 0 rows' width). */
static float *fvec(int64_t n) { return fi_aligned(n > 0 ? n : 1, sizeof(float)); }

static void add_float(double *acc, const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) acc[i] += x[i];
}

/* L += sum over the buffered examples of (D_i)^2 elementwise, D_i =
 * sum_t d_t a_t^T over its rows of a [R, k] and d [R, out]. With one row
 * per example D_i^2 = (d^2)(a^2)^T, so the whole buffer is one GEMM. */
static void square_sums(lacc *l, float *a, float *d) {
  const int64_t k = l->k, out = l->out;
  int single = 1;
  for (int64_t i = 0; i < l->nex; i++) single &= l->cnt[i] == 1;
  if (single) {
    for (int64_t i = 0; i < l->nrows * k; i++) a[i] *= a[i];
    for (int64_t i = 0; i < l->nrows * out; i++) d[i] *= d[i];
    fi_gemm(1, 0, out, k, l->nrows, 1, d, out, a, k, 0, l->tmp, k);
    add_float(l->L, l->tmp, out * k);
    return;
  }
  for (int64_t i = 0, row = 0; i < l->nex; row += l->cnt[i++]) {
    if (l->cnt[i] == 0) continue;
    fi_gemm(1, 0, out, k, l->cnt[i], 1, d + row * out, out, a + row * k, k, 0, l->tmp, k);
    for (int64_t e = 0; e < out * k; e++) l->L[e] += (double)l->tmp[e] * l->tmp[e];
  }
}

static void flush(fitter *f, lacc *l) {
  if (l->nrows == 0 && l->nex == 0) return;
  const int64_t k = l->k, out = l->out, R = l->nrows;
  if (R > 0) {
    if (f->method == FI_CURV_DIAG) {
      square_sums(l, l->ra, l->rd);
    } else if (f->pass == 1) {
      fi_gemm(1, 0, k, k, R, 1, l->ra, k, l->ra, k, 0, l->tmp, k);
      add_float(l->A, l->tmp, k * k);
      fi_gemm(1, 0, out, out, R, 1, l->rd, out, l->rd, out, 0, l->tmp, out);
      add_float(l->G, l->tmp, out * out);
    } else { /* ekfac: rotate every row into the eigenbases, then square sums */
      fi_gemm(0, 0, R, k, k, 1, l->ra, k, l->QA, k, 0, l->ta, k);
      fi_gemm(0, 0, R, out, out, 1, l->rd, out, l->QG, out, 0, l->td, out);
      square_sums(l, l->ta, l->td);
    }
  }
  l->nrows = l->nex = 0;
}

/* One record's rows of layer l into its buffer (abar: a's selected columns,
 * then 1 for a bias). */
static void add_rows(fitter *f, lacc *l, const fi_grad_rows *x) {
  /* No rows, nothing to add (D_i = 0); counting the example anyway would grow
   * cnt[] with N, as a buffer is flushed only when its rows overflow. */
  if (x->r == 0) return;
  const int per_example = f->method == FI_CURV_DIAG || f->pass == 2;
  if (l->nrows + x->r > l->cap) flush(f, l);
  if (x->r > l->cap) { /* one record longer than the buffer: grow it */
    free(l->ra);
    free(l->rd);
    free(l->ta);
    free(l->td);
    free(l->tmp);
    l->ra = l->rd = l->ta = l->td = l->tmp = NULL;
    l->cap = x->r;
    lacc_alloc(l, 0, per_example);
  }
  for (int64_t t = 0; t < x->r; t++) {
    float *dst = l->ra + (l->nrows + t) * l->k;
    if (l->has_w) memcpy(dst, x->a + t * l->in, (size_t)l->in * sizeof *dst);
    if (l->has_b) dst[l->k - 1] = 1;
  }
  memcpy(l->rd + l->nrows * l->out, x->delta, (size_t)(x->r * l->out) * sizeof(float));
  l->nrows += x->r;
  if (per_example) {
    if (l->nex == l->excap)
      l->cnt = fi_realloc(l->cnt, fi_mul_size(l->excap = l->excap ? 2 * l->excap : 256, sizeof *l->cnt, "rows"));
    l->cnt[l->nex++] = x->r;
  }
}

static void fold_record(fitter *f, const fi_grad_view *v) {
  const fi_grad_layout *L = f->L;
  if (L->whole) {
    for (int64_t e = 0; e < L->P; e++) f->dsum[0][e] += (double)v->g[e] * v->g[e];
    return;
  }
  for (int j = 0; j < L->nlayers; j++) add_rows(f, &f->la[j], &v->layer[j]);
  if (f->pass == 1)
    for (int i = 0; i < L->nparts; i++)
      if (f->dsum[i])
        for (int64_t e = 0; e < L->parts[i].numel; e++)
          f->dsum[i][e] += (double)v->dense[i][e] * v->dense[i][e];
}

/* The first record's layout must give a curvature file ihvp reads: some
 * parameters, and no layer of zero width (an empty factor). */
static void check_widths(const fi_record *rec, const fi_grad_layout *L) {
  if (L->P == 0) fi_rec_die(rec, "no parameter values: the gradient vector is empty (P = 0)");
  for (int j = 0; j < L->nlayers; j++) {
    const fi_grad_layer *l = &L->layers[j];
    if (l->out == 0 || (l->weight >= 0 && l->in == 0))
      fi_rec_die(rec, "layer '%s' has in %lld, out %lld: a factor of width 0", l->name, (long long)l->in,
                 (long long)l->out);
    /* the factors are [k, k] and [out, out] whatever the record's rows (a
     * record of 0 rows may declare any width): sized before allocating */
    const int64_t k = (l->weight >= 0 ? l->in : 0) + (l->bias >= 0);
    int64_t kk, oo, ko, bytes;
    if (__builtin_mul_overflow(k, k, &kk) || __builtin_mul_overflow(l->out, l->out, &oo) ||
        __builtin_mul_overflow(l->out, k, &ko) || __builtin_add_overflow(kk, oo, &bytes) ||
        __builtin_add_overflow(bytes, ko, &bytes) || __builtin_mul_overflow(bytes, (int64_t)sizeof(double), &bytes))
      fi_rec_die(rec, "layer '%s' (in %lld, out %lld): its factors [%lld, %lld] and [%lld, %lld] overflow the "
                 "address space", l->name, (long long)l->in, (long long)l->out, (long long)k, (long long)k,
                 (long long)l->out, (long long)l->out);
  }
}

/* One pass over the records of r; returns how many. */
static int64_t run_pass(fitter *f, fi_reader *r, fi_grad_layout **Lp, int64_t expect) {
  fi_grad_view *v = NULL;
  int64_t n = 0;
  const fi_record *rec;
  fi_progress_count("records", expect);
  while ((rec = fi_read(r))) {
    if (!*Lp) {
      if (!fi_grad_is_record(rec))
        fi_rec_die(rec, "not a gradient record (\"grad\", or \"params\" with factors a.NAME / "
                   "delta.NAME or dense parts grad.PNAME)");
      *Lp = fi_grad_layout_new(rec, -1);
      f->L = *Lp;
      const fi_grad_layout *L = f->L;
      check_widths(rec, L);
      f->la = fi_calloc(L->nlayers ? L->nlayers : 1, sizeof *f->la);
      for (int j = 0; j < L->nlayers; j++) {
        lacc_init(&f->la[j], L, j);
        lacc_alloc(&f->la[j], f->method != FI_CURV_DIAG, f->method == FI_CURV_DIAG);
      }
      int nd = L->whole ? 1 : L->nparts;
      f->dsum = fi_calloc(nd ? nd : 1, sizeof *f->dsum);
      if (L->whole) f->dsum[0] = fi_calloc(L->P, sizeof **f->dsum);
      for (int i = 0; !L->whole && i < L->nparts; i++)
        if (L->parts[i].kind == FI_GPART_DENSE)
          f->dsum[i] = fi_calloc(L->parts[i].numel ? L->parts[i].numel : 1, sizeof **f->dsum);
    }
    if (!v) v = fi_grad_view_new(f->L);
    fi_grad_read(f->L, rec, v);
    if (expect >= 0 && n >= expect)
      fi_rec_die(rec, "the second pass reads more records than the first (%lld): the file changed",
                 (long long)expect);
    fold_record(f, v);
    n++;
    fi_progress_add(1);
  }
  for (int j = 0; f->L && j < f->L->nlayers; j++) flush(f, &f->la[j]);
  fi_progress_count(NULL, 0);
  if (n == 0) fi_die("no gradient records on %s", fi_reader_name(r));
  if (expect >= 0 && n != expect)
    fi_die("%s: the second pass read %lld records, the first %lld: the file changed",
           fi_reader_name(r), (long long)n, (long long)expect);
  fi_grad_view_free(v);
  return n;
}

/* Symmetric S [n, n] (sums over N records) / N: eigenvectors into Q [n, n]
 * (columns) and eigenvalues (ascending, rounding negatives of a positive
 * semi-definite matrix set to 0) into w [n]; the matrix itself into M. */
static void eigen(const double *S, int64_t n, int64_t N, float *M, float *Q, float *w) {
  if (n == 0) return;
  double *a = fi_malloc(fi_mul_size(n * n, sizeof *a, "eigen"));
  double *e = fi_malloc(fi_mul_size(n, sizeof *e, "eigen"));
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) {
      a[i * n + j] = 0.5 * (S[i * n + j] + S[j * n + i]) / (double)N;
      M[i * n + j] = (float)a[i * n + j];
    }
  lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)n, a, (lapack_int)n, e);
  if (info != 0) fi_die("curvature: LAPACK dsyevd failed (info %d) on a %lld x %lld factor", (int)info,
                        (long long)n, (long long)n);
  for (int64_t i = 0; i < n * n; i++) Q[i] = (float)a[i];
  for (int64_t i = 0; i < n; i++) w[i] = e[i] > 0 ? (float)e[i] : 0;
  free(a);
  free(e);
}

static fi_cblock *new_block(fi_curv *c, const char *name, fi_cblock_kind kind) {
  c->b = fi_realloc(c->b, fi_mul_size(c->nblocks + 1, sizeof *c->b, "blocks"));
  fi_cblock *b = &c->b[c->nblocks++];
  memset(b, 0, sizeof *b);
  b->name = fi_strdup(name);
  b->kind = kind;
  b->off_w = b->off_b = b->off = -1;
  return b;
}

static void diag_block(fi_curv *c, const char *name, int64_t off, int64_t numel, const double *sum,
                       int64_t stride, int64_t N) {
  fi_cblock *b = new_block(c, name, FI_CBLOCK_DIAG);
  b->off = off;
  b->numel = numel;
  b->diag = fi_aligned(numel ? numel : 1, sizeof *b->diag);
  for (int64_t e = 0; e < numel; e++) b->diag[e] = (float)(sum[e * stride] / (double)N);
}

static int check_rewindable(const char *path, fi_err *e) {
  struct stat st;
  int ok = (!path || !strcmp(path, "-")) ? fstat(0, &st) == 0 : stat(path, &st) == 0;
  if (!ok || !S_ISREG(st.st_mode))
    return fi_err_set(e, FI_ERR_USAGE, "method",
                      "ekfac reads the gradients twice: give them as a regular file (%s is %s)",
                      path && strcmp(path, "-") ? path : "standard input",
                      !ok ? strerror(errno) : "not a regular file (a pipe?)");
  return 0;
}

fi_curv *fi_curv_fit(const char *path, fi_curv_method method, fi_err *e) {
  if (method == FI_CURV_EKFAC && check_rewindable(path, e)) return NULL;
  fitter f = {.method = method, .pass = 1};
  fi_grad_layout *L = NULL;
  fi_progress("curvature: pass 1 (%s)", fi_curv_methods[method]);
  fi_reader *r = fi_reader_open(path);
  const int64_t N = run_pass(&f, r, &L, -1);
  fi_curv *c = fi_calloc(1, sizeof *c);
  c->method = method;
  c->n = N;
  c->P = L->P;
  c->params = L->params ? fi_strdup(L->params) : NULL;
  if (L->whole) {
    diag_block(c, "grad", 0, L->P, f.dsum[0], 1, N);
  } else if (method == FI_CURV_DIAG) {
    for (int i = 0; i < L->nparts; i++) { /* one diagonal block per parameter, in params order */
      const fi_grad_part *pt = &L->parts[i];
      if (pt->kind == FI_GPART_DENSE) {
        diag_block(c, pt->pname, pt->off, pt->numel, f.dsum[i], 1, N);
        continue;
      }
      const lacc *l = &f.la[pt->layer];
      fi_cblock *b = new_block(c, pt->pname, FI_CBLOCK_DIAG);
      b->off = pt->off;
      b->numel = pt->numel;
      b->diag = fi_aligned(pt->numel ? pt->numel : 1, sizeof *b->diag);
      for (int64_t o = 0, e2 = 0; o < l->out; o++) {
        if (pt->kind == FI_GPART_BIAS) b->diag[o] = (float)(l->L[o * l->k + l->k - 1] / (double)N);
        else
          for (int64_t j = 0; j < l->in; j++) b->diag[e2++] = (float)(l->L[o * l->k + j] / (double)N);
      }
    }
  } else {
    for (int j = 0; j < L->nlayers; j++) {
      lacc *l = &f.la[j];
      fi_cblock *b = new_block(c, l->gl->name, FI_CBLOCK_KRON);
      b->in = l->in;
      b->out = l->out;
      b->k = l->k;
      b->off_w = l->has_w ? L->parts[l->gl->weight].off : -1;
      b->off_b = l->has_b ? L->parts[l->gl->bias].off : -1;
      const int64_t k = l->k, out = l->out;
      b->A = fvec(k * k);
      b->QA = fvec(k * k);
      b->eigA = fvec(k);
      b->G = fvec(out * out);
      b->QG = fvec(out * out);
      b->eigG = fvec(out);
      fi_progress("curvature: eigendecomposing %s (%lld and %lld)", b->name, (long long)k, (long long)out);
      eigen(l->A, k, N, b->A, b->QA, b->eigA);
      eigen(l->G, out, N, b->G, b->QG, b->eigG);
      l->QA = b->QA;
      l->QG = b->QG;
    }
    for (int i = 0; i < L->nparts; i++)
      if (L->parts[i].kind == FI_GPART_DENSE)
        diag_block(c, L->parts[i].pname, L->parts[i].off, L->parts[i].numel, f.dsum[i], 1, N);
    if (method == FI_CURV_EKFAC) {
      f.pass = 2;
      for (int j = 0; j < L->nlayers; j++) {
        f.la[j].nrows = f.la[j].nex = 0;
        lacc_alloc(&f.la[j], 0, 1);
      }
      fi_progress("curvature: pass 2 (ekfac eigenvalues)");
      /* the same descriptor, back where pass 1 began: standard input that is
       * a regular file may have been opened past its start (a reopened
       * /dev/stdin would read from byte 0) */
      if (fi_reader_rewind(r)) fi_die("%s: cannot seek back for the second pass: %s", fi_reader_name(r), strerror(errno));
      run_pass(&f, r, &L, N);
      for (int j = 0, bi = 0; j < L->nlayers; j++, bi++) {
        const lacc *l = &f.la[j];
        fi_cblock *b = &c->b[bi];
        b->eig = fvec(l->out * l->k);
        for (int64_t e2 = 0; e2 < l->out * l->k; e2++) b->eig[e2] = (float)(l->L[e2] / (double)N);
      }
    }
  }
  fi_reader_close(r);
  for (int j = 0; j < L->nlayers; j++) lacc_free(&f.la[j]);
  free(f.la);
  for (int i = 0; i < (L->whole ? 1 : L->nparts); i++) free(f.dsum[i]);
  free(f.dsum);
  fi_grad_layout_free(L);
  return c;
}

void fi_curv_free(fi_curv *c) {
  if (!c) return;
  for (int i = 0; i < c->nblocks; i++) {
    fi_cblock *b = &c->b[i];
    free(b->name);
    free(b->A);
    free(b->QA);
    free(b->eigA);
    free(b->G);
    free(b->QG);
    free(b->eigG);
    free(b->eig);
    free(b->diag);
  }
  free(c->b);
  free(c->params);
  free(c);
}
