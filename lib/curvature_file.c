/* curvature_file.c - the curvature file written and read (curvature.h,
 * formats/curvature.md): a record stream, a header record then one record
 * per block, so Python reads it as any stream. */
#include "curvature.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_ID "fastif-curvature"

static const char *const kinds[] = {[FI_CBLOCK_KRON] = "kron", [FI_CBLOCK_DIAG] = "diag"};

static void wmat(fi_writer *w, const char *key, int64_t r, int64_t c, const float *x) {
  const int64_t shape[2] = {r, c};
  fi_wtensor(w, key, FI_F32, 2, shape, x);
}

void fi_curv_save(const fi_curv *c, const char *path) {
  fi_writer *w = fi_writer_open(path);
  fi_wrecord(w, HEADER_ID);
  fi_wstr(w, "format", HEADER_ID);
  fi_wint(w, "version", 1);
  fi_wstr(w, "method", fi_curv_methods[c->method]);
  fi_wint(w, "n", c->n);
  fi_wint(w, "P", c->P);
  if (c->params) fi_wstr(w, "params", c->params);
  fi_wint(w, "blocks", c->nblocks);
  fi_wrecord_end(w);
  for (int i = 0; i < c->nblocks; i++) {
    const fi_cblock *b = &c->b[i];
    fi_wrecord(w, b->name);
    fi_wstr(w, "kind", kinds[b->kind]);
    if (b->kind == FI_CBLOCK_DIAG) {
      fi_wint(w, "off", b->off);
      fi_wf32(w, "diag", b->diag, b->numel);
    } else {
      fi_wint(w, "in", b->in);
      fi_wint(w, "out", b->out);
      fi_wint(w, "off_w", b->off_w);
      fi_wint(w, "off_b", b->off_b);
      wmat(w, "A", b->k, b->k, b->A);
      wmat(w, "QA", b->k, b->k, b->QA);
      fi_wf32(w, "eigA", b->eigA, b->k);
      wmat(w, "G", b->out, b->out, b->G);
      wmat(w, "QG", b->out, b->out, b->QG);
      fi_wf32(w, "eigG", b->eigG, b->out);
      if (b->eig) wmat(w, "eig", b->out, b->k, b->eig);
    }
    fi_wrecord_end(w);
  }
  fi_writer_close(w);
}

static int64_t need_int(const fi_record *rec, const char *key) {
  int64_t v;
  fi_rec_int(rec, key, &v, 1);
  return v;
}

/* A copy of tensor key, checked to be [r, c] (c < 0: 1-D [r]). */
static float *need_f32(const fi_record *rec, const char *key, int64_t r, int64_t c) {
  fi_tensor t;
  fi_rec_tensor(rec, key, &t, 1);
  int ok = c < 0 ? t.ndim == 1 && t.shape[0] == r : t.ndim == 2 && t.shape[0] == r && t.shape[1] == c;
  if (!ok) {
    if (c < 0) fi_rec_die(rec, "'%s' must be f32 [%lld]", key, (long long)r);
    fi_rec_die(rec, "'%s' must be f32 [%lld, %lld]", key, (long long)r, (long long)c);
  }
  const float *x;
  int64_t n = fi_rec_f32(rec, key, -1, &x, 1);
  float *copy = fi_aligned(n ? n : 1, sizeof *copy);
  memcpy(copy, x, (size_t)n * sizeof *copy);
  return copy;
}

/* need_f32 of eigenvalues or a diagonal: a curvature is positive
 * semi-definite, and a negative value (or NaN) would make eig + lambda <= 0,
 * which the inverse treats as a direction no gradient touches. */
static float *need_nonneg(const fi_record *rec, const char *key, int64_t r, int64_t c) {
  float *x = need_f32(rec, key, r, c);
  const int64_t n = r * (c < 0 ? 1 : c);
  for (int64_t e = 0; e < n; e++)
    if (!(x[e] >= 0)) {
      const double bad = x[e];
      free(x); /* the copy is the only reference: not a leak on the way out */
      fi_rec_die(rec, "'%s' has %g at element %lld: curvature values must be >= 0", key, bad,
                 (long long)e);
    }
  return x;
}

/* Claims [off, off+n) of the dense vector for block nm of file. */
static void claim(const char *file, const char *nm, unsigned char *seen, int64_t P, int64_t off,
                  int64_t n) {
  if (off < 0 || off > P || n > P - off)
    fi_die("%s: block '%s' covers [%lld, %lld), outside the vector of P = %lld", file, nm,
           (long long)off, (long long)(off + n), (long long)P);
  for (int64_t e = off; e < off + n; e++) {
    if (seen[e]) fi_die("%s: block '%s' overlaps another at element %lld", file, nm, (long long)e);
    seen[e] = 1;
  }
}

fi_curv *fi_curv_load(const char *path) {
  fi_reader *r = fi_reader_open(path);
  const fi_record *rec = fi_read(r);
  if (!rec) fi_die("%s: empty file, not a curvature file", fi_reader_name(r));
  const char *fmt = fi_rec_str(rec, "format", NULL, 0);
  if (!fmt || strcmp(fmt, HEADER_ID))
    fi_rec_die(rec, "%s is not a curvature file (its first record needs \"format\": \"%s\"; "
               "make one with curvature)", fi_reader_name(r), HEADER_ID);
  if (need_int(rec, "version") != 1) fi_rec_die(rec, "unsupported version (this build reads 1)");
  fi_curv *c = fi_calloc(1, sizeof *c);
  const char *m = fi_rec_str(rec, "method", NULL, 1);
  int mi = 0;
  while (fi_curv_methods[mi] && strcmp(fi_curv_methods[mi], m)) mi++;
  if (!fi_curv_methods[mi]) fi_rec_die(rec, "unknown method '%s'", m);
  c->method = (fi_curv_method)mi;
  c->n = need_int(rec, "n");
  c->P = need_int(rec, "P");
  const int64_t nb = need_int(rec, "blocks");
  if (c->n < 1 || c->P < 1 || nb < 1 || nb > c->P || nb > INT_MAX)
    fi_rec_die(rec, "bad n %lld, P %lld or blocks %lld", (long long)c->n, (long long)c->P, (long long)nb);
  const char *params = fi_rec_str(rec, "params", NULL, 0);
  c->params = params ? fi_strdup(params) : NULL;
  int64_t total = 0; /* the blocks' sizes, held in the file, must add up to P before P is allocated */
  int64_t cap = 0;   /* c->b grows as block records arrive: the header's count is only a claim */
  for (int64_t i = 0; i < nb; i++) {
    if (!(rec = fi_read(r)))
      fi_die("%s: %lld blocks announced, %lld found", fi_reader_name(r), (long long)nb, (long long)i);
    if (c->nblocks == cap) c->b = fi_realloc(c->b, fi_mul_size(cap = cap ? 2 * cap : 16, sizeof *c->b, "blocks"));
    fi_cblock *b = &c->b[c->nblocks++];
    memset(b, 0, sizeof *b);
    b->name = fi_strdup(fi_rec_id(rec));
    b->off_w = b->off_b = b->off = -1;
    const char *kind = fi_rec_str(rec, "kind", NULL, 1);
    int64_t covered;
    if (!strcmp(kind, "diag")) {
      b->kind = FI_CBLOCK_DIAG;
      b->off = need_int(rec, "off");
      const float *x;
      b->numel = fi_rec_f32(rec, "diag", -1, &x, 1);
      b->diag = need_nonneg(rec, "diag", b->numel, -1);
      covered = b->numel;
    } else if (!strcmp(kind, "kron")) {
      b->kind = FI_CBLOCK_KRON;
      b->in = need_int(rec, "in");
      b->out = need_int(rec, "out");
      b->off_w = need_int(rec, "off_w");
      b->off_b = need_int(rec, "off_b");
      if (b->in < 0 || b->out < 1 || b->in > c->P || b->out > c->P || (b->off_w < 0 && b->off_b < 0))
        fi_rec_die(rec, "bad in %lld, out %lld, or neither weight nor bias", (long long)b->in,
                   (long long)b->out);
      b->k = (b->off_w >= 0 ? b->in : 0) + (b->off_b >= 0);
      if (b->k < 1) fi_rec_die(rec, "a weight of in 0 and no bias: the block is empty");
      /* k <= P + 1 and out <= P, but k * out can overflow: compare by division first */
      if (b->k > c->P / b->out) fi_rec_die(rec, "block larger than P = %lld", (long long)c->P);
      covered = b->k * b->out;
      b->A = need_f32(rec, "A", b->k, b->k);
      b->QA = need_f32(rec, "QA", b->k, b->k);
      b->eigA = need_nonneg(rec, "eigA", b->k, -1);
      b->G = need_f32(rec, "G", b->out, b->out);
      b->QG = need_f32(rec, "QG", b->out, b->out);
      b->eigG = need_nonneg(rec, "eigG", b->out, -1);
      if (c->method == FI_CURV_EKFAC) b->eig = need_nonneg(rec, "eig", b->out, b->k);
    } else {
      fi_rec_die(rec, "unknown block kind '%s' (kron or diag)", kind);
    }
    total += covered;
    if (total > c->P) fi_rec_die(rec, "the blocks hold more than P = %lld values", (long long)c->P);
  }
  if ((rec = fi_read(r))) fi_rec_die(rec, "more records than the %lld blocks announced", (long long)nb);
  if (total != c->P)
    fi_die("%s: the blocks hold %lld values, P is %lld", fi_reader_name(r), (long long)total, (long long)c->P);
  unsigned char *seen = fi_calloc((size_t)c->P, 1);
  for (int i = 0; i < c->nblocks; i++) {
    const fi_cblock *b = &c->b[i];
    const char *nm = b->name;
    if (b->kind == FI_CBLOCK_DIAG) claim(fi_reader_name(r), nm, seen, c->P, b->off, b->numel);
    else {
      if (b->off_w >= 0) claim(fi_reader_name(r), nm, seen, c->P, b->off_w, b->in * b->out);
      if (b->off_b >= 0) claim(fi_reader_name(r), nm, seen, c->P, b->off_b, b->out);
    }
  }
  for (int64_t e = 0; e < c->P; e++)
    if (!seen[e])
      fi_die("%s: no block covers element %lld of the vector (P = %lld)", fi_reader_name(r),
             (long long)e, (long long)c->P);
  free(seen);
  fi_reader_close(r);
  return c;
}
