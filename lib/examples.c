/* examples.c - training/test examples in memory: ids (hash-indexed),
 * labels, dense inputs [n, d] or bow bucket lists (CSR), and the bow text
 * featuriser (tokenizer + FNV-1a hashing, formats/model.md). */
#include <stdlib.h>
#include <string.h>
#include "model_internal.h"
#include "stream_index.h"
#include "strset.h"
#include "util.h"

/* ---- bow featuriser ---- */

uint64_t fi_fnv1a64(const void *p, size_t n, uint64_t h) {
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++) {
    h ^= s[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

/* Token bytes: ASCII letters/digits and every byte >= 0x80 (so UTF-8 words
 * stay whole); an apostrophe between two token bytes joins them ("don't"). */
static int tokbyte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}
static unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static void push(int32_t **out, int64_t *cap, int64_t at, int32_t v) {
  if (at >= *cap) {
    *cap = *cap ? *cap * 2 : 256;
    *out = fi_realloc(*out, fi_mul_size((size_t)*cap, sizeof(int32_t), "bucket list"));
  }
  (*out)[at] = v;
}

int64_t fi_bow_buckets(const char *text, size_t len, int64_t buckets, int32_t **out,
                       int64_t *cap, int64_t at) {
  const unsigned char *s = (const unsigned char *)text;
  int64_t start = at;
  size_t i = 0;
  uint64_t prev = 0; /* FNV state after "previous token " */
  int have_prev = 0;
  while (i < len) {
    while (i < len && !tokbyte(s[i])) i++;
    if (i >= len) break;
    /* hash the lowercased token, and the bigram "prev tok" by continuing
     * the previous token's hash after a space */
    uint64_t h = FI_FNV_OFFSET, hb = prev;
    while (i < len) {
      if (tokbyte(s[i])) {
        unsigned char c = lower(s[i]);
        h = fi_fnv1a64(&c, 1, h);
        hb = fi_fnv1a64(&c, 1, hb);
        i++;
      } else if (s[i] == '\'' && i > 0 && tokbyte(s[i - 1]) && i + 1 < len && tokbyte(s[i + 1])) {
        h = fi_fnv1a64(&s[i], 1, h);
        hb = fi_fnv1a64(&s[i], 1, hb);
        i++;
      } else {
        break;
      }
    }
    push(out, cap, at++, (int32_t)(h % (uint64_t)buckets));
    if (have_prev) push(out, cap, at++, (int32_t)(hb % (uint64_t)buckets));
    prev = fi_fnv1a64(" ", 1, h);
    have_prev = 1;
  }
  return at - start;
}

/* ---- examples ---- */

fi_examples *fi_examples_new(const fi_model *m) {
  fi_examples *ex = fi_calloc(1, sizeof *ex);
  ex->bow = m->arch == FI_ARCH_BOW;
  ex->d = ex->bow ? 0 : m->sizes[0];
  ex->buckets = m->buckets;
  ex->nclasses = (int)m->sizes[m->nl];
  if (m->classes) {
    ex->classes = fi_calloc((size_t)ex->nclasses, sizeof *ex->classes);
    for (int c = 0; c < ex->nclasses; c++) ex->classes[c] = m->classes[c] ? fi_strdup(m->classes[c]) : NULL;
  }
  ex->rowptr = fi_calloc(1, sizeof(int64_t));
  ex->rowfd = -1;
  return ex;
}

static void drop_bags(fi_examples *ex) {
  free(ex->bag);
  free(ex->bag_invn);
  ex->bag = ex->bag_invn = NULL;
  ex->bag_m = NULL;
  ex->bag_n = 0;
}

void fi_examples_clear(fi_examples *ex) {
  if (ex->six) fi_die("internal: fi_examples_clear on examples read through a stream index");
  drop_bags(ex);
  ex->n = 0;
  ex->ntok = 0;
  ex->rowptr[0] = 0;
  fi_examples_file_clear(ex);
  if (ex->ht)
    for (uint64_t i = 0; i < ex->htcap; i++) ex->ht[i] = -1;
  for (int b = 0; b < ex->nblocks; b++) free(ex->blocks[b]);
  ex->nblocks = 0;
  ex->blockused = ex->blocksize = 0;
}

void fi_examples_free(fi_examples *ex) {
  if (!ex) return;
  drop_bags(ex);
  fi_examples_file_close(ex);
  fi_sidx_close(ex->six);
  free(ex->ids);
  free(ex->labels);
  free(ex->x);
  free(ex->rowptr);
  free(ex->tok);
  free(ex->ht);
  for (int b = 0; b < ex->nblocks; b++) free(ex->blocks[b]);
  free(ex->blocks);
  free(ex->scratch);
  if (ex->classes)
    for (int c = 0; c < ex->nclasses; c++) free(ex->classes[c]);
  free(ex->classes);
  free(ex);
}

int64_t fi_examples_count(const fi_examples *ex) { return ex->n; }
const char *fi_examples_id(const fi_examples *ex, int64_t i) { return ex->ids[i]; }
int32_t fi_examples_label(const fi_examples *ex, int64_t i) { return ex->labels[i]; }
void fi_examples_set_label(fi_examples *ex, int64_t i, int32_t y) {
  if (y < 0 || y >= ex->nclasses)
    fi_die("example '%s': label %d out of range 0..%d", ex->ids[i], (int)y, ex->nclasses - 1);
  ex->labels[i] = y;
}

static uint64_t id_hash(const char *s) { return fi_fnv1a64(s, strlen(s), FI_FNV_OFFSET); }

int64_t fi_examples_find(const fi_examples *ex, const char *id) {
  if (ex->six) return fi_sidx_find(ex->six, id);
  if (!ex->ht) return -1;
  uint64_t mask = ex->htcap - 1;
  for (uint64_t h = id_hash(id) & mask;; h = (h + 1) & mask) {
    int64_t j = ex->ht[h];
    if (j < 0) return -1;
    if (!strcmp(ex->ids[j], id)) return j;
  }
}

static void ht_insert(fi_examples *ex, int64_t j) {
  uint64_t mask = ex->htcap - 1;
  uint64_t h = id_hash(ex->ids[j]) & mask;
  while (ex->ht[h] >= 0) h = (h + 1) & mask;
  ex->ht[h] = j;
}

static void ht_grow(fi_examples *ex) {
  /* load factor <= 1/2 keeps probes short */
  if (ex->ht && (uint64_t)(ex->n + 1) * 2 <= ex->htcap) return;
  uint64_t cap = ex->htcap ? ex->htcap * 2 : 1024;
  while ((uint64_t)(ex->n + 1) * 2 > cap) cap *= 2;
  free(ex->ht);
  ex->ht = fi_malloc(fi_mul_size(cap, sizeof(int64_t), "id table"));
  ex->htcap = cap;
  for (uint64_t i = 0; i < cap; i++) ex->ht[i] = -1;
  for (int64_t j = 0; j < ex->n; j++) ht_insert(ex, j);
}

/* Ids live in blocks that never move, so fi_examples_id pointers stay valid. */
static char *arena_strdup(fi_examples *ex, const char *s) {
  size_t len = strlen(s) + 1;
  if (ex->nblocks == 0 || ex->blockused + len > ex->blocksize) {
    size_t sz = len > 65536 ? len : 65536;
    if (ex->nblocks == ex->blockcap) {
      ex->blockcap = ex->blockcap ? ex->blockcap * 2 : 16;
      ex->blocks = fi_realloc(ex->blocks, (size_t)ex->blockcap * sizeof(char *));
    }
    ex->blocks[ex->nblocks++] = fi_malloc(sz);
    ex->blocksize = sz;
    ex->blockused = 0;
  }
  char *p = ex->blocks[ex->nblocks - 1] + ex->blockused;
  memcpy(p, s, len);
  ex->blockused += len;
  return p;
}

static void grow_rows(fi_examples *ex) {
  if (ex->n < ex->cap) return;
  int64_t cap = ex->cap ? ex->cap * 2 : 256;
  ex->ids = fi_realloc(ex->ids, fi_mul_size((size_t)cap, sizeof(char *), "examples"));
  ex->labels = fi_realloc(ex->labels, fi_mul_size((size_t)cap, sizeof(int32_t), "examples"));
  if (ex->bow)
    ex->rowptr = fi_realloc(ex->rowptr, fi_mul_size((size_t)cap + 1, sizeof(int64_t), "examples"));
  else if (ex->rowfd < 0)
    ex->x = fi_realloc(ex->x, fi_mul_size(fi_mul_size((size_t)cap, (size_t)ex->d, "examples"),
                                          sizeof(float), "examples"));
  ex->cap = cap;
}

static void append_tokens(fi_examples *ex, const int32_t *t, int64_t n) {
  if (ex->ntok + n > ex->tokcap) {
    int64_t cap = ex->tokcap ? ex->tokcap : 4096;
    while (cap < ex->ntok + n) cap *= 2;
    ex->tok = fi_realloc(ex->tok, fi_mul_size((size_t)cap, sizeof(int32_t), "bucket lists"));
    ex->tokcap = cap;
  }
  memcpy(ex->tok + ex->ntok, t, (size_t)n * sizeof(int32_t));
  ex->ntok += n;
}

/* A record's label_name must be the model's name for its label: streams
 * imported separately may number the classes differently, and the number
 * alone would then silently mean another class. */
static void check_label_name(const fi_examples *ex, const fi_record *rec, int64_t y) {
  const char *name = ex->classes ? fi_rec_str(rec, "label_name", NULL, 0) : NULL;
  if (!name || (ex->classes[y] && !strcmp(name, ex->classes[y]))) return;
  int c = 0;
  while (c < ex->nclasses && !(ex->classes[c] && !strcmp(name, ex->classes[c]))) c++;
  if (c < ex->nclasses)
    fi_rec_die(rec, "label %lld is named '%s' here, but the model's class %lld is '%s' and '%s' is "
               "its class %d: this stream numbers the classes differently; import it with the "
               "model's classes in order (--classes)", (long long)y, name, (long long)y,
               ex->classes[y] ? ex->classes[y] : "(unnamed)", name, c);
  if (!ex->classes[y]) return; /* unnamed in the model: nothing to contradict */
  fi_rec_die(rec, "label %lld is named '%s' here, but the model's class %lld is '%s' (and no "
             "class of the model is '%s')", (long long)y, name, (long long)y, ex->classes[y], name);
}

void fi_examples_decode_dense(const fi_examples *ex, const fi_record *rec, int64_t y, float *row) {
  if (!fi_rec_has(rec, "x"))
    fi_rec_die(rec, "needs \"x\" (f32 [%lld]) for this %s model", (long long)ex->d, ex->d ? "dense" : "");
  if (y >= 0) check_label_name(ex, rec, y);
  const float *x;
  fi_rec_f32(rec, "x", ex->d, &x, 1);
  memcpy(row, x, (size_t)ex->d * sizeof(float));
}

void fi_examples_add(fi_examples *ex, const fi_record *rec, int need_label) {
  if (ex->six) fi_die("internal: fi_examples_add on examples read through a stream index");
  const char *id = fi_rec_id(rec);
  int64_t dup = fi_examples_find(ex, id);
  if (dup >= 0) fi_rec_die(rec, "duplicate id (also example #%lld)", (long long)dup);
  int64_t y = -1;
  if (fi_rec_int(rec, "label", &y, need_label)) {
    if (y < 0 || y >= ex->nclasses)
      fi_rec_die(rec, "label %lld out of range 0..%d (the model has %d classes)", (long long)y,
                 ex->nclasses - 1, ex->nclasses);
    check_label_name(ex, rec, y);
  } else {
    y = -1;
  }
  grow_rows(ex);
  int64_t j = ex->n;
  if (ex->bow) {
    if (fi_rec_has(rec, "x"))
      fi_rec_die(rec, "has a dense \"x\" but the model is bow (needs \"text\" or \"tokens\")");
    if (fi_rec_has(rec, "tokens")) {
      const int32_t *t;
      int64_t nt = fi_rec_i32(rec, "tokens", &t, 1);
      for (int64_t k = 0; k < nt; k++)
        if (t[k] < 0 || t[k] >= ex->buckets)
          fi_rec_die(rec, "tokens[%lld] = %d is not a bucket id in 0..%lld", (long long)k,
                     (int)t[k], (long long)ex->buckets - 1);
      append_tokens(ex, t, nt);
    } else if (fi_rec_has(rec, "text")) {
      size_t len;
      const char *s = fi_rec_str(rec, "text", &len, 1);
      int64_t nt = fi_bow_buckets(s, len, ex->buckets, &ex->scratch, &ex->scratchcap, 0);
      append_tokens(ex, ex->scratch, nt);
    } else {
      fi_rec_die(rec, "needs \"text\" or \"tokens\" for a bow model");
    }
    ex->rowptr[j + 1] = ex->ntok;
  } else {
    fi_examples_decode_dense(ex, rec, -1, ex->rowfd >= 0 ? fi_examples_file_slot(ex) : ex->x + j * ex->d);
  }
  ex->labels[j] = (int32_t)y;
  ex->ids[j] = arena_strdup(ex, id);
  ht_grow(ex);
  ht_insert(ex, j);
  ex->n++;
}

int64_t fi_examples_read(fi_examples *ex, fi_reader *r, int64_t max, int need_label) {
  int64_t k = 0;
  const fi_record *rec;
  while ((max <= 0 || k < max) && (rec = fi_read(r))) {
    fi_examples_add(ex, rec, need_label);
    k++;
  }
  return k;
}

fi_examples *fi_examples_load(const fi_model *m, const char *path, int need_label) {
  return fi_examples_load_as(m, path, need_label, 0);
}

fi_examples *fi_examples_load_as(const fi_model *m, const char *path, int need_label, int rows_in_file) {
  return fi_examples_load_only(m, path, need_label, rows_in_file, NULL, NULL);
}

fi_examples *fi_examples_load_only(const fi_model *m, const char *path, int need_label,
                                   int rows_in_file, const fi_strset *only, int64_t *nread) {
  fi_examples *ex = fi_examples_new(m);
  if (rows_in_file) fi_examples_to_file(ex);
  fi_reader *r = fi_reader_open(path);
  const fi_record *rec;
  int64_t n = 0;
  while ((rec = fi_read(r))) {
    n++;
    if (!only || fi_strset_find(only, fi_rec_id(rec)) >= 0) fi_examples_add(ex, rec, need_label);
  }
  fi_reader_close(r);
  if (nread) *nread = n;
  return ex;
}

void fi_model_check_examples(const fi_model *m, const fi_examples *ex) {
  int bow = m->arch == FI_ARCH_BOW;
  if (ex->bow != bow || (!bow && ex->d != m->sizes[0]) || (bow && ex->buckets != m->buckets) ||
      ex->nclasses != m->sizes[m->nl])
    fi_die("examples were read for a different model (input size, buckets or classes differ)");
}

void fi_examples_cache_bags(fi_examples *ex, const fi_model *m) {
  drop_bags(ex);
  if (m->arch != FI_ARCH_BOW || ex->n == 0) return;
  fi_model_check_examples(m, ex);
  int64_t dim = m->dim;
  ex->bag = fi_aligned(fi_mul_size((size_t)ex->n, (size_t)dim, "embedding cache"), sizeof(float));
  ex->bag_invn = fi_malloc(fi_mul_size((size_t)ex->n, sizeof(float), "embedding cache"));
  for (int64_t j = 0; j < ex->n; j++) ex->bag_invn[j] = fi_bow_bag(m, ex, j, ex->bag + j * dim);
  ex->bag_m = m;
  ex->bag_n = ex->n;
}

float fi_bow_bag(const fi_model *m, const fi_examples *ex, int64_t j, float *row) {
  int64_t dim = m->dim, t0 = ex->rowptr[j], t1 = ex->rowptr[j + 1];
  const float *E = m->pdata[m->pe];
  memset(row, 0, (size_t)dim * sizeof(float));
  for (int64_t t = t0; t < t1; t++) {
    const float *e = E + (int64_t)ex->tok[t] * dim;
    for (int64_t c = 0; c < dim; c++) row[c] += e[c];
  }
  /* an empty text has no buckets: its embedding is the zero vector */
  float inv = t1 > t0 ? 1.0f / (float)(t1 - t0) : 0.0f;
  for (int64_t c = 0; c < dim; c++) row[c] *= inv;
  return inv;
}
