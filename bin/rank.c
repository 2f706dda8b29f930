/* rank - the most helpful, harmful and influential training examples per
 * test point (formats/ranked.md). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"
#include "stream.h"
#include "strset.h"
#include "util.h"

typedef struct {          /* --join / --query: what we attach, by id */
  fi_strset *ids;
  int64_t *label, *pred;  /* -1 = none */
  char **label_name, **text, **pred_name;
  int64_t cap;
} joined;

static char *opt_str(const fi_record *rec, const char *key) {
  const char *s = fi_rec_str(rec, key, NULL, 0);
  return s ? fi_strdup(s) : NULL;
}

/* Load id -> label/text/prediction fields. Several files may describe the
 * same ids (examples and predictions): later files fill in what is missing. */
static void join_load(joined *j, const char *path) {
  if (!j->ids) j->ids = fi_strset_new();
  fi_strset *seen = fi_strset_new();
  fi_reader *r = fi_reader_open(path);
  const fi_record *rec;
  while ((rec = fi_read(r))) {
    if (fi_strset_add(seen, fi_rec_id(rec)) < 0) fi_rec_die(rec, "duplicate id in %s", path);
    int64_t i = fi_strset_add(j->ids, fi_rec_id(rec));
    if (i < 0) {
      i = -1 - i;
    } else {
      if (i >= j->cap) {
        j->cap = j->cap ? 2 * j->cap : 1024;
        j->label = fi_realloc(j->label, j->cap * sizeof *j->label);
        j->pred = fi_realloc(j->pred, j->cap * sizeof *j->pred);
        j->label_name = fi_realloc(j->label_name, j->cap * sizeof *j->label_name);
        j->pred_name = fi_realloc(j->pred_name, j->cap * sizeof *j->pred_name);
        j->text = fi_realloc(j->text, j->cap * sizeof *j->text);
      }
      j->label[i] = j->pred[i] = -1;
      j->label_name[i] = j->pred_name[i] = j->text[i] = NULL;
    }
    int64_t y;
    if (j->label[i] < 0 && fi_rec_int(rec, "label", &y, 0)) j->label[i] = y;
    if (j->pred[i] < 0 && fi_rec_int(rec, "pred", &y, 0)) j->pred[i] = y;
    if (!j->label_name[i]) j->label_name[i] = opt_str(rec, "label_name");
    if (!j->pred_name[i]) j->pred_name[i] = opt_str(rec, "pred_name");
    if (!j->text[i]) j->text[i] = opt_str(rec, "text");
  }
  fi_reader_close(r);
  fi_strset_free(seen);
}

static void join_free(joined *j) {
  if (!j->ids) return;
  for (int64_t i = 0; i < fi_strset_count(j->ids); i++) {
    free(j->label_name[i]);
    free(j->pred_name[i]);
    free(j->text[i]);
  }
  free(j->label);
  free(j->pred);
  free(j->label_name);
  free(j->pred_name);
  free(j->text);
  fi_strset_free(j->ids);
}

/* One line of text for a terminal: markup line breaks and tabs become
 * spaces, cut at max bytes (on a UTF-8 character boundary). */
static void put_text(const char *t, size_t max) {
  size_t c = 0;
  for (const char *p = t; *p; p++) {
    if (!strncmp(p, "<br />", 6)) {
      p += 5;
      putchar(' ');
      c++;
      continue;
    }
    if (c >= max && ((unsigned char)*p & 0xc0) != 0x80) {
      printf("...");
      return;
    }
    putchar(*p == '\n' || *p == '\t' || *p == '\r' ? ' ' : *p);
    c++;
  }
}

static void put_class(const joined *j, int64_t e, int pred) {
  const char *name = pred ? j->pred_name[e] : j->label_name[e];
  int64_t y = pred ? j->pred[e] : j->label[e];
  if (name) printf("%s", name);
  else printf("%lld", (long long)y);
}

static const float *g_sc;  /* qsort comparators' scores */
static int by_score(const void *a, const void *b) {   /* ascending, ties by position */
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  if (g_sc[x] != g_sc[y]) return g_sc[x] < g_sc[y] ? -1 : 1;
  return x < y ? -1 : x > y;
}
static int by_abs(const void *a, const void *b) {     /* descending |score| */
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  float ax = fabsf(g_sc[x]), ay = fabsf(g_sc[y]);
  if (ax != ay) return ax > ay ? -1 : 1;
  return x < y ? -1 : x > y;
}

static void write_list(fi_writer *w, const char *key, const int64_t *sel, int64_t k,
                       const char **ids, const float *sc, const joined *j) {
  fi_wkey(w, key);
  fi_varray(w, (int)k);
  for (int64_t q = 0; q < k; q++) {
    int64_t i = sel[q], e = j->ids ? fi_strset_find(j->ids, ids[i]) : -1;
    int nf = 2;
    if (e >= 0) nf += (j->label[e] >= 0) + (j->label_name[e] != NULL) + (j->text[e] != NULL);
    fi_vmap(w, nf);
    fi_wstr(w, "id", ids[i]);
    fi_wdouble(w, "score", sc[i]);
    if (e >= 0) {
      if (j->label[e] >= 0) fi_wint(w, "label", j->label[e]);
      if (j->label_name[e]) fi_wstr(w, "label_name", j->label_name[e]);
      if (j->text[e]) fi_wstr(w, "text", j->text[e]);
    }
  }
}

static void print_list(const char *title, const int64_t *sel, int64_t k, const char **ids,
                       const float *sc, const joined *j) {
  printf("  %s:\n", title);
  if (k == 0) printf("    (none)\n");
  for (int64_t q = 0; q < k; q++) {
    int64_t i = sel[q], e = j->ids ? fi_strset_find(j->ids, ids[i]) : -1;
    printf("    %2lld. %-20s %+.6g", (long long)q + 1, ids[i], sc[i]);
    if (e >= 0) {
      if (j->label_name[e]) printf("  [%s]", j->label_name[e]);
      else if (j->label[e] >= 0) printf("  [label %lld]", (long long)j->label[e]);
      if (j->text[e]) {
        printf("  ");
        put_text(j->text[e], 100);
      }
    }
    putchar('\n');
  }
}

/* All scores of one test point, merged over the records that carry its id
 * (shards of a fan-out each contribute some training ids). */
typedef struct {
  int64_t n, cap;
  int64_t *train;   /* index into the interned training ids */
  float *score;
} tscores;

static void print_query(const char *id, int64_t k, const joined *q) {
  int64_t e = q->ids ? fi_strset_find(q->ids, id) : -1;
  printf("test %s", id);
  if (e >= 0 && (q->label[e] >= 0 || q->label_name[e])) {
    printf("   gold: ");
    put_class(q, e, 0);
  }
  if (e >= 0 && (q->pred[e] >= 0 || q->pred_name[e])) {
    printf("   predicted: ");
    put_class(q, e, 1);
  }
  printf("   (%lld training examples scored)\n", (long long)k);
  if (e >= 0 && q->text[e]) {
    printf("  \"");
    put_text(q->text[e], 300);
    printf("\"\n");
  }
}

int main(int argc, char **argv) {
  long long m;
  const char *join = NULL, *query = NULL;
  int text = 0;
  const fi_opt opts[] = {
    {"top", 'm', FI_OPT_INT, &m, "10", "entries per list", .min = 1, .max = 1e9},
    {"join", 0, FI_OPT_STR, &join, NULL, "training examples: attach label, label_name, text",
     .metavar = "EXAMPLES"},
    {"query", 0, FI_OPT_STR, &query, NULL, "test examples and/or predictions (comma list of files): attach text, label, pred",
     .metavar = "FILES"},
    {"text", 0, FI_OPT_FLAG, &text, NULL, "print a readable view instead of msgpack"},
    {0}};
  const fi_tool tool = {
    "rank", "top-m helpful, harmful and influential training examples per test point",
    "[-m M] [--join EXAMPLES] [--query FILES] [--text] < scores > ranked", opts,
    "helpful: the most negative scores (removing them would raise the test loss), most "
    "negative first; harmful: the most positive, most positive first; influential: the "
    "largest |score|. helpful and harmful hold only scores of their sign, so they may be "
    "shorter than M. Ties keep input order. Scores records with the same test id (shards "
    "of a fan-out) are merged first, in input order; output follows the order in which "
    "test ids first appear. See formats/ranked.md."};
  fi_parse_options(&tool, argc, argv);
  joined j = {0}, q = {0};
  if (join) join_load(&j, join);
  if (query) {
    char *list = fi_strdup(query);
    for (char *f = strtok(list, ","); f; f = strtok(NULL, ",")) join_load(&q, f);
    free(list);
  }
  /* Merge: training ids are interned once, whatever the number of tests. */
  fi_strset *tests = fi_strset_new(), *train = fi_strset_new();
  tscores *ts = NULL;
  int64_t tcap = 0;
  fi_reader *r = fi_reader_open("-");
  const fi_record *rec;
  while ((rec = fi_read(r))) {
    const char **ids;
    int64_t k = fi_rec_strs(rec, "ids", &ids, 1);
    const float *sc;
    fi_rec_f32(rec, "scores", k, &sc, 1);
    int64_t t = fi_strset_add(tests, fi_rec_id(rec));
    if (t < 0) t = -1 - t;
    else {
      if (t >= tcap) {
        tcap = tcap ? 2 * tcap : 64;
        ts = fi_realloc(ts, tcap * sizeof *ts);
      }
      memset(&ts[t], 0, sizeof ts[t]);
    }
    tscores *x = &ts[t];
    if (x->n + k > x->cap) {
      x->cap = x->n + k > 2 * x->cap ? x->n + k : 2 * x->cap;
      x->train = fi_realloc(x->train, fi_mul_size(x->cap, sizeof *x->train, "scores"));
      x->score = fi_realloc(x->score, fi_mul_size(x->cap, sizeof *x->score, "scores"));
    }
    for (int64_t i = 0; i < k; i++) {
      int64_t e = fi_strset_add(train, ids[i]);
      x->train[x->n + i] = e < 0 ? -1 - e : e;
      x->score[x->n + i] = sc[i];
    }
    x->n += k;
    fi_progress("%lld scores records", (long long)fi_rec_index(rec) + 1);
  }
  fi_reader_close(r);
  fi_writer *w = text ? NULL : fi_writer_open("-");
  int64_t *ord = NULL, *ab = NULL, *harm = NULL, cap = 0;
  const char **ids = NULL;
  long long n = 0;
  for (int64_t t = 0; t < fi_strset_count(tests); t++) {
    tscores *x = &ts[t];
    int64_t k = x->n;
    const float *sc = x->score;
    if (k > cap) {
      cap = k;
      ord = fi_realloc(ord, cap * sizeof *ord);
      ab = fi_realloc(ab, cap * sizeof *ab);
      harm = fi_realloc(harm, cap * sizeof *harm);
      ids = fi_realloc(ids, cap * sizeof *ids);
    }
    for (int64_t i = 0; i < k; i++) {
      ord[i] = ab[i] = i;
      ids[i] = fi_strset_at(train, x->train[i]);
    }
    g_sc = sc;
    qsort(ord, k, sizeof *ord, by_score);
    qsort(ab, k, sizeof *ab, by_abs);
    int64_t nh = 0, nb = 0;
    while (nh < m && nh < k && sc[ord[nh]] < 0) nh++;
    while (nb < m && nb < k && sc[ord[k - 1 - nb]] > 0) {
      harm[nb] = ord[k - 1 - nb];
      nb++;
    }
    int64_t ni = m < k ? m : k;
    const char *tid = fi_strset_at(tests, t);
    if (text) {
      print_query(tid, k, &q);
      print_list("helpful (most negative)", ord, nh, ids, sc, &j);
      print_list("harmful (most positive)", harm, nb, ids, sc, &j);
      print_list("influential (largest |score|)", ab, ni, ids, sc, &j);
      putchar('\n');
    } else {
      int64_t e = q.ids ? fi_strset_find(q.ids, tid) : -1;
      int extra = e < 0 ? 0 : (q.label[e] >= 0) + (q.label_name[e] != NULL) + (q.pred[e] >= 0) +
                                  (q.pred_name[e] != NULL) + (q.text[e] != NULL);
      fi_wbegin(w, tid, 3 + extra);
      if (e >= 0) {
        if (q.label[e] >= 0) fi_wint(w, "label", q.label[e]);
        if (q.label_name[e]) fi_wstr(w, "label_name", q.label_name[e]);
        if (q.pred[e] >= 0) fi_wint(w, "pred", q.pred[e]);
        if (q.pred_name[e]) fi_wstr(w, "pred_name", q.pred_name[e]);
        if (q.text[e]) fi_wstr(w, "text", q.text[e]);
      }
      write_list(w, "helpful", ord, nh, ids, sc, &j);
      write_list(w, "harmful", harm, nb, ids, sc, &j);
      write_list(w, "influential", ab, ni, ids, sc, &j);
      fi_wend(w);
    }
    n++;
    free(x->train);
    free(x->score);
  }
  if (w) fi_writer_close(w);
  else if (fflush(stdout) || ferror(stdout)) fi_die("writing standard output: %s", strerror(errno));
  fi_done(n);
  free(ord);
  free(ab);
  free(harm);
  free(ids);
  free(ts);
  fi_strset_free(tests);
  fi_strset_free(train);
  join_free(&j);
  join_free(&q);
  return 0;
}
