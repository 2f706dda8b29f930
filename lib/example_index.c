/* example_index.c - training examples through a stream index
 * (example_index.h): every row virtual, ids and labels from the index and
 * each batch's rows decoded from the stream (fi_examples_index_rows), or
 * only the rows a set of ids names, read and kept. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "example_index.h"
#include "model_internal.h"
#include "stream_index.h"
#include "util.h"

const char *fi_train_index_path(const char *v) {
  return !v || !strcmp(v, "auto") || !strcmp(v, "none") ? NULL : v;
}

typedef struct {
  const fi_examples *ex;
  const int64_t *rows;
  float *dst;
} gather;

static void put_row(const fi_record *rec, int64_t i, void *ctx) {
  const gather *g = ctx;
  fi_examples_decode_dense(g->ex, rec, g->ex->labels[g->rows[i]], g->dst + i * g->ex->d);
}

void fi_examples_index_rows(const fi_examples *ex, const int64_t *rows, int64_t nb, float *dst) {
  gather g = {ex, rows, dst};
  fi_sidx_read(ex->six, rows, nb, put_row, &g);
}

/* All rows of the indexed stream, none read yet; the examples own ix. */
static fi_examples *open_indexed(const fi_model *m, fi_sidx *ix, int need_label) {
  fi_examples *ex = fi_examples_new(m);
  int64_t n = fi_sidx_count(ix);
  ex->ids = fi_malloc(fi_mul_size((size_t)(n ? n : 1), sizeof *ex->ids, "examples"));
  ex->labels = fi_malloc(fi_mul_size((size_t)(n ? n : 1), sizeof *ex->labels, "examples"));
  for (int64_t j = 0; j < n; j++) {
    int32_t y = fi_sidx_label(ix, j);
    ex->ids[j] = (char *)fi_sidx_id(ix, j); /* the index's, freed with it */
    /* what fi_examples_add would refuse of this record, from the index */
    if (y >= ex->nclasses)
      fi_die("record '%s' (#%lld of %s): label %d out of range 0..%d (the model has %d classes)", ex->ids[j],
             (long long)j, fi_sidx_stream(ix), (int)y, ex->nclasses - 1, ex->nclasses);
    if (y < 0 && need_label)
      fi_die("record '%s' (#%lld of %s): no integer 'label' (training examples need one)", ex->ids[j],
             (long long)j, fi_sidx_stream(ix));
    ex->labels[j] = y;
  }
  ex->n = ex->cap = n;
  ex->six = ix;
  return ex;
}

typedef struct {
  fi_examples *ex;
  int need_label;
} keeper;

static void keep_row(const fi_record *rec, int64_t i, void *ctx) {
  (void)i;
  const keeper *k = ctx;
  fi_examples_add(k->ex, rec, k->need_label);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* The rows of `only`'s ids, read in stream order and kept in ex. */
static fi_examples *load_only_indexed(const fi_model *m, fi_sidx *ix, const fi_train_opts *o,
                                      const fi_strset *only) {
  fi_examples *ex = fi_examples_new(m);
  if (o->rows_in_file) fi_examples_to_file(ex);
  int64_t want = fi_strset_count(only), k = 0;
  int64_t *rows = fi_malloc(fi_mul_size((size_t)(want ? want : 1), sizeof *rows, "rows"));
  for (int64_t i = 0; i < want; i++) {
    int64_t j = fi_sidx_find(ix, fi_strset_at(only, i));
    if (j >= 0) rows[k++] = j; /* an id not in the stream: the caller names it, as without an index */
  }
  qsort(rows, (size_t)k, sizeof *rows, cmp_i64);
  keeper kp = {ex, o->need_label};
  fi_sidx_read(ix, rows, k, keep_row, &kp);
  free(rows);
  return ex;
}

fi_examples *fi_examples_open_train(const fi_model *m, const char *path, const fi_train_opts *o,
                                    const fi_strset *only, int64_t *nread, fi_train_how *how,
                                    char *why, size_t whylen) {
  fi_train_how h = FI_TRAIN_READ;
  if (whylen) why[0] = 0;
  struct stat st;
  int regular = path && strcmp(path, "-") && stat(path, &st) == 0 && S_ISREG(st.st_mode);
  /* virtual rows need a dense model; with `only` the rows read are kept, any model */
  int dense = m->arch != FI_ARCH_BOW;
  if (o->index && !regular)
    fi_die("%s is not a regular file: it cannot be read through the index %s", path ? path : "-", o->index);
  if (!o->no_index && regular) {
    fi_sidx *ix = NULL;
    fi_sidx_status s = fi_sidx_open(path, o->index, &ix, why, whylen);
    if (o->index && s == FI_SIDX_ABSENT) fi_die("cannot open the stream index %s: no such file", o->index);
    if (o->index && s == FI_SIDX_STALE) fi_die("%s: the stream changed since it was indexed; rebuild the index with stream-index", why);
    if (s == FI_SIDX_STALE) h = FI_TRAIN_STALE;
    if (s == FI_SIDX_OK && only) {
      fi_examples *ex = load_only_indexed(m, ix, o, only);
      if (nread) *nread = fi_sidx_count(ix);
      fi_sidx_close(ix);
      *how = FI_TRAIN_INDEXED;
      return ex;
    }
    if (s == FI_SIDX_OK && dense) {
      if (nread) *nread = fi_sidx_count(ix);
      *how = FI_TRAIN_INDEXED;
      return open_indexed(m, ix, o->need_label);
    }
    if (s == FI_SIDX_OK) {
      snprintf(why, whylen, "the model's inputs are text, featurised once as the stream is read");
      h = FI_TRAIN_MODEL;
      fi_sidx_close(ix);
    }
  } else if (!o->no_index && path && strcmp(path, "-")) {
    h = FI_TRAIN_NOT_FILE;
  }
  *how = h;
  return fi_examples_load_only(m, path, o->need_label, o->rows_in_file, only, nread);
}
