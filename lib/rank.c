/* rank.c - merging scores records per test point, selecting the helpful,
 * harmful and influential lists, and writing them as records or text
 * (rank.h). */
#include "rank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "classes.h"
#include "strset.h"
#include "util.h"

/* ---- merge ---- */

typedef struct {   /* all scores of one test point */
  int64_t n, cap;
  int64_t *train;  /* index into the interned training ids */
  float *score;
} tscores;

struct fi_scores {
  fi_strset *tests, *train;  /* training ids are interned once, whatever the number of tests */
  tscores *ts;               /* [count of tests] */
  int64_t tcap;
};

fi_scores *fi_scores_merge(fi_reader *r) {
  fi_scores *s = fi_calloc(1, sizeof *s);
  s->tests = fi_strset_new();
  s->train = fi_strset_new();
  const fi_record *rec;
  while ((rec = fi_read(r))) {
    const char **ids;
    int64_t k = fi_rec_strs(rec, "ids", &ids, 1);
    const float *sc;
    fi_rec_f32(rec, "scores", k, &sc, 1);
    int64_t t = fi_strset_add(s->tests, fi_rec_id(rec));
    if (t < 0) t = -1 - t;
    else {
      if (t >= s->tcap) {
        s->tcap = s->tcap ? 2 * s->tcap : 64;
        s->ts = fi_realloc(s->ts, fi_mul_size(s->tcap, sizeof *s->ts, "test points"));
      }
      memset(&s->ts[t], 0, sizeof s->ts[t]);
    }
    tscores *x = &s->ts[t];
    if (x->n + k > x->cap) {
      x->cap = x->n + k > 2 * x->cap ? x->n + k : 2 * x->cap;
      x->train = fi_realloc(x->train, fi_mul_size(x->cap, sizeof *x->train, "scores"));
      x->score = fi_realloc(x->score, fi_mul_size(x->cap, sizeof *x->score, "scores"));
    }
    for (int64_t i = 0; i < k; i++) {
      int64_t e = fi_strset_add(s->train, ids[i]);
      x->train[x->n + i] = e < 0 ? -1 - e : e;
      x->score[x->n + i] = sc[i];
    }
    x->n += k;
    fi_progress("%lld scores records", (long long)fi_rec_index(rec) + 1);
  }
  /* A training id scored twice for one test (a shard given twice, a rerun
   * concatenated) would be ranked twice: refuse it. stamp[e] = t + 1 marks
   * e as seen for test t, so one pass over everything suffices. */
  int64_t ne = fi_strset_count(s->train);
  int64_t *stamp = fi_calloc((size_t)(ne ? ne : 1), sizeof *stamp);
  for (int64_t t = 0; t < fi_strset_count(s->tests); t++)
    for (int64_t i = 0; i < s->ts[t].n; i++) {
      int64_t e = s->ts[t].train[i];
      if (stamp[e] == t + 1)
        fi_die("%s: test '%s': training example '%s' is scored more than once (the same shard twice?)",
               fi_reader_name(r), fi_strset_at(s->tests, t), fi_strset_at(s->train, e));
      stamp[e] = t + 1;
    }
  free(stamp);
  return s;
}

void fi_scores_relative(fi_scores *s, fi_reader *r) {
  const fi_record *rec;
  const int64_t ne = fi_strset_count(s->train);
  double *root = fi_malloc(fi_mul_size(ne ? ne : 1, sizeof *root, "self-influence"));
  for (int64_t e = 0; e < ne; e++) root[e] = -1; /* none yet */
  int found = 0;
  while ((rec = fi_read(r))) {
    if (strcmp(fi_rec_id(rec), "self")) continue;
    if (found) fi_rec_die(rec, "a second \"self\" record");
    found = 1;
    const char **ids;
    int64_t k = fi_rec_strs(rec, "ids", &ids, 1);
    const float *sc;
    fi_rec_f32(rec, "scores", k, &sc, 1);
    for (int64_t i = 0; i < k; i++) {
      int64_t e = fi_strset_find(s->train, ids[i]);
      if (e < 0) continue; /* self-influence of an example not scored here */
      if (root[e] >= 0) /* which of the two is meant is unknowable: keeping either would be a guess */
        fi_rec_die(rec, "training example '%s' appears more than once in \"ids\"", ids[i]);
      if (!(sc[i] > 0))
        fi_rec_die(rec, "training example '%s' has self-influence %g: RelatIF divides by its square "
                   "root, which needs a positive definite curvature (add damping)", ids[i], sc[i]);
      root[e] = sqrt((double)sc[i]);
    }
  }
  if (!found) fi_die("%s: no scores record with id \"self\" (influence --self writes it)", fi_reader_name(r));
  for (int64_t e = 0; e < ne; e++)
    if (root[e] < 0)
      fi_die("%s: training example '%s' is scored but has no self-influence in the \"self\" record",
             fi_reader_name(r), fi_strset_at(s->train, e));
  for (int64_t t = 0; t < fi_strset_count(s->tests); t++)
    for (int64_t i = 0; i < s->ts[t].n; i++)
      s->ts[t].score[i] = (float)(s->ts[t].score[i] / root[s->ts[t].train[i]]);
  free(root);
}

void fi_scores_free(fi_scores *s) {
  if (!s) return;
  for (int64_t t = 0; t < fi_strset_count(s->tests); t++) {
    free(s->ts[t].train);
    free(s->ts[t].score);
  }
  free(s->ts);
  fi_strset_free(s->tests);
  fi_strset_free(s->train);
  free(s);
}

int64_t fi_scores_ntests(const fi_scores *s) { return fi_strset_count(s->tests); }
const char *fi_scores_test_id(const fi_scores *s, int64_t t) { return fi_strset_at(s->tests, t); }
const fi_strset *fi_scores_test_ids(const fi_scores *s) { return s->tests; }
const fi_strset *fi_scores_train_ids(const fi_scores *s) { return s->train; }

/* ---- select ---- */

static int by_score(const void *a, const void *b, void *scores) { /* ascending, ties by position */
  const float *sc = scores;
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  if (sc[x] != sc[y]) return sc[x] < sc[y] ? -1 : 1;
  return x < y ? -1 : x > y;
}

static int by_abs(const void *a, const void *b, void *scores) {   /* descending |score| */
  const float *sc = scores;
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  float ax = fabsf(sc[x]), ay = fabsf(sc[y]);
  if (ax != ay) return ax > ay ? -1 : 1;
  return x < y ? -1 : x > y;
}

void fi_rank_select(fi_ranking *r, const fi_scores *s, int64_t t, int64_t m) {
  const tscores *x = &s->ts[t];
  const int64_t k = x->n;
  if (k > r->cap) {
    r->cap = k;
    r->order = fi_realloc(r->order, fi_mul_size(k, sizeof *r->order, "ranking"));
    r->influential = fi_realloc(r->influential, fi_mul_size(k, sizeof *r->influential, "ranking"));
    r->harmful = fi_realloc(r->harmful, fi_mul_size(k, sizeof *r->harmful, "ranking"));
    r->ids = fi_realloc(r->ids, fi_mul_size(k, sizeof *r->ids, "ranking"));
  }
  r->test_id = fi_scores_test_id(s, t);
  r->n = k;
  r->score = x->score;
  int64_t *ord = r->order;
  for (int64_t i = 0; i < k; i++) {
    ord[i] = r->influential[i] = i;
    r->ids[i] = fi_strset_at(s->train, x->train[i]);
  }
  qsort_r(ord, k, sizeof *ord, by_score, x->score);
  qsort_r(r->influential, k, sizeof *r->influential, by_abs, x->score);
  const float *sc = x->score;
  int64_t nh = 0, nb = 0;
  while (nh < m && nh < k && sc[ord[nh]] < 0) nh++;
  while (nb < m && nb < k && sc[ord[k - 1 - nb]] > 0) {
    r->harmful[nb] = ord[k - 1 - nb];
    nb++;
  }
  r->helpful = ord;
  r->nhelpful = nh;
  r->nharmful = nb;
  r->ninfluential = m < k ? m : k;
}

void fi_ranking_free(fi_ranking *r) {
  free(r->order);
  free(r->influential);
  free(r->harmful);
  free(r->ids);
  memset(r, 0, sizeof *r);
}

/* ---- report ---- */

/* The class names of one id: its own, else the table's (classes.h). */
typedef struct {
  const fi_join_fields *e;
  const char *label_name, *pred_name;
} named;

static named name_of(const fi_join *j, const char *id, const fi_classes *cl) {
  named n = {fi_join_find(j, id), NULL, NULL};
  if (n.e) {
    n.label_name = fi_classes_name(cl, n.e->label_name, n.e->label, id);
    n.pred_name = fi_classes_name(cl, n.e->pred_name, n.e->pred, id);
  }
  return n;
}

static void write_list(fi_writer *w, const char *key, const int64_t *sel, int64_t k,
                       const fi_ranking *r, const fi_join *train, const fi_classes *cl) {
  fi_wkey(w, key);
  fi_varray(w, (int)k);
  for (int64_t q = 0; q < k; q++) {
    int64_t i = sel[q];
    named n = name_of(train, r->ids[i], cl);
    const fi_join_fields *e = n.e;
    int nf = 2;
    if (e) nf += (e->label >= 0) + (n.label_name != NULL) + (e->text != NULL);
    fi_vmap(w, nf);
    fi_wstr(w, "id", r->ids[i]);
    fi_wdouble(w, "score", r->score[i]);
    if (e) {
      if (e->label >= 0) fi_wint(w, "label", e->label);
      if (n.label_name) fi_wstr(w, "label_name", n.label_name);
      if (e->text) fi_wstr(w, "text", e->text);
    }
  }
}

void fi_rank_write(fi_writer *w, const fi_ranking *r, const fi_join *train,
                   const fi_join *query, const fi_classes *cl) {
  named n = name_of(query, r->test_id, cl);
  const fi_join_fields *e = n.e;
  int extra = !e ? 0 : (e->label >= 0) + (n.label_name != NULL) + (e->pred >= 0) +
                           (n.pred_name != NULL) + (e->text != NULL);
  fi_wbegin(w, r->test_id, 3 + extra);
  if (e) {
    if (e->label >= 0) fi_wint(w, "label", e->label);
    if (n.label_name) fi_wstr(w, "label_name", n.label_name);
    if (e->pred >= 0) fi_wint(w, "pred", e->pred);
    if (n.pred_name) fi_wstr(w, "pred_name", n.pred_name);
    if (e->text) fi_wstr(w, "text", e->text);
  }
  write_list(w, "helpful", r->helpful, r->nhelpful, r, train, cl);
  write_list(w, "harmful", r->harmful, r->nharmful, r, train, cl);
  write_list(w, "influential", r->influential, r->ninfluential, r, train, cl);
  fi_wend(w);
}

/* One line of text for a terminal: markup line breaks and tabs become
 * spaces, cut at max bytes (on a UTF-8 character boundary). */
static void put_text(FILE *out, const char *t, size_t max) {
  size_t c = 0;
  for (const char *p = t; *p; p++) {
    if (!strncmp(p, "<br />", 6)) {
      p += 5;
      putc(' ', out);
      c++;
      continue;
    }
    if (c >= max && ((unsigned char)*p & 0xc0) != 0x80) {
      fputs("...", out);
      return;
    }
    putc(*p == '\n' || *p == '\t' || *p == '\r' ? ' ' : *p, out);
    c++;
  }
}

static void put_class(FILE *out, const char *name, int64_t y) {
  if (name) fputs(name, out);
  else fprintf(out, "%lld", (long long)y);
}

static void print_list(FILE *out, const char *title, const int64_t *sel, int64_t k,
                       const fi_ranking *r, const fi_join *train, const fi_classes *cl) {
  fprintf(out, "  %s:\n", title);
  if (k == 0) fputs("    (none)\n", out);
  for (int64_t q = 0; q < k; q++) {
    int64_t i = sel[q];
    named n = name_of(train, r->ids[i], cl);
    const fi_join_fields *e = n.e;
    fprintf(out, "    %2lld. %-20s %+.6g", (long long)q + 1, r->ids[i], r->score[i]);
    if (e) {
      if (n.label_name) fprintf(out, "  [%s]", n.label_name);
      else if (e->label >= 0) fprintf(out, "  [%lld]", (long long)e->label);
      if (e->text) {
        fputs("  ", out);
        put_text(out, e->text, 100);
      }
    }
    putc('\n', out);
  }
}

void fi_rank_print_text(FILE *out, const fi_ranking *r, const fi_join *train,
                        const fi_join *query, const fi_classes *cl) {
  named n = name_of(query, r->test_id, cl);
  const fi_join_fields *e = n.e;
  fprintf(out, "test %s", r->test_id);
  if (e && (e->label >= 0 || n.label_name)) {
    fputs("   gold: ", out);
    put_class(out, n.label_name, e->label);
  }
  if (e && (e->pred >= 0 || n.pred_name)) {
    fputs("   predicted: ", out);
    put_class(out, n.pred_name, e->pred);
  }
  fprintf(out, "   (%lld training examples scored)\n", (long long)r->n);
  if (e && e->text) {
    fputs("  \"", out);
    put_text(out, e->text, 300);
    fputs("\"\n", out);
  }
  print_list(out, "helpful (most negative)", r->helpful, r->nhelpful, r, train, cl);
  print_list(out, "harmful (most positive)", r->harmful, r->nharmful, r, train, cl);
  print_list(out, "influential (largest |score|)", r->influential, r->ninfluential, r, train, cl);
  putc('\n', out);
}
