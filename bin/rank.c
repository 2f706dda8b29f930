/* rank - the most helpful, harmful and influential training examples per
 * test point (formats/ranked.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"
#include "stream.h"
#include "strset.h"
#include "util.h"

typedef struct {          /* --join: what we attach, by training id */
  fi_strset *ids;
  int64_t *label;         /* -1 = none */
  char **label_name, **text;
  int64_t cap;
} joined;

static void join_load(joined *j, const char *path) {
  memset(j, 0, sizeof *j);
  j->ids = fi_strset_new();
  fi_reader *r = fi_reader_open(path);
  const fi_record *rec;
  while ((rec = fi_read(r))) {
    int64_t i = fi_strset_add(j->ids, fi_rec_id(rec));
    if (i < 0) fi_rec_die(rec, "duplicate id in %s", path);
    if (i >= j->cap) {
      j->cap = j->cap ? 2 * j->cap : 1024;
      j->label = fi_realloc(j->label, j->cap * sizeof *j->label);
      j->label_name = fi_realloc(j->label_name, j->cap * sizeof *j->label_name);
      j->text = fi_realloc(j->text, j->cap * sizeof *j->text);
    }
    int64_t y = -1;
    fi_rec_int(rec, "label", &y, 0);
    j->label[i] = fi_rec_has(rec, "label") ? y : -1;
    const char *s = fi_rec_str(rec, "label_name", NULL, 0);
    j->label_name[i] = s ? fi_strdup(s) : NULL;
    s = fi_rec_has(rec, "text") ? fi_rec_str(rec, "text", NULL, 0) : NULL;
    j->text[i] = s ? fi_strdup(s) : NULL;
  }
  fi_reader_close(r);
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
      if (j->text[e]) { /* one line, at most 100 characters */
        printf("  ");
        const char *t = j->text[e];
        for (int c = 0; t[c] && c < 100; c++) putchar(t[c] == '\n' || t[c] == '\t' ? ' ' : t[c]);
        if (strlen(t) > 100) printf("...");
      }
    }
    putchar('\n');
  }
}

int main(int argc, char **argv) {
  long long m;
  const char *join = NULL;
  int text = 0;
  const fi_opt opts[] = {
    {"top", 'm', FI_OPT_INT, &m, "10", "entries per list", .min = 1, .max = 1e9},
    {"join", 0, FI_OPT_STR, &join, NULL, "training examples: attach label, label_name, text",
     .metavar = "EXAMPLES"},
    {"text", 0, FI_OPT_FLAG, &text, NULL, "print a readable view instead of msgpack"},
    {0}};
  const fi_tool tool = {
    "rank", "top-m helpful, harmful and influential training examples per test point",
    "[-m M] [--join EXAMPLES] [--text] < scores > ranked", opts,
    "helpful: the most negative scores (removing them would raise the test loss), most "
    "negative first; harmful: the most positive, most positive first; influential: the "
    "largest |score|. helpful and harmful hold only scores of their sign, so they may be "
    "shorter than M. Ties keep input order. See formats/ranked.md."};
  fi_parse_options(&tool, argc, argv);
  joined j = {0};
  if (join) join_load(&j, join);
  fi_reader *r = fi_reader_open("-");
  fi_writer *w = text ? NULL : fi_writer_open("-");
  const fi_record *rec;
  int64_t *ord = NULL, *ab = NULL, *harm = NULL, cap = 0;
  long long n = 0;
  while ((rec = fi_read(r))) {
    const char **ids;
    int64_t k = fi_rec_strs(rec, "ids", &ids, 1);
    const float *sc;
    fi_rec_f32(rec, "scores", k, &sc, 1);
    if (k > cap) {
      cap = k;
      ord = fi_realloc(ord, cap * sizeof *ord);
      ab = fi_realloc(ab, cap * sizeof *ab);
      harm = fi_realloc(harm, cap * sizeof *harm);
    }
    for (int64_t i = 0; i < k; i++) ord[i] = ab[i] = i;
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
    if (text) {
      printf("test %s (%lld training examples)\n", fi_rec_id(rec), (long long)k);
      print_list("helpful (most negative)", ord, nh, ids, sc, &j);
      print_list("harmful (most positive)", harm, nb, ids, sc, &j);
      print_list("influential (largest |score|)", ab, ni, ids, sc, &j);
    } else {
      fi_wbegin(w, fi_rec_id(rec), 3);
      write_list(w, "helpful", ord, nh, ids, sc, &j);
      write_list(w, "harmful", harm, nb, ids, sc, &j);
      write_list(w, "influential", ab, ni, ids, sc, &j);
      fi_wend(w);
    }
    n++;
  }
  fi_reader_close(r);
  fi_done(n);
  if (w) fi_writer_close(w);
  else if (fflush(stdout) || ferror(stdout)) fi_die("error writing stdout");
  free(ord);
  free(ab);
  free(harm);
  if (join) {
    for (int64_t i = 0; i < fi_strset_count(j.ids); i++) {
      free(j.label_name[i]);
      free(j.text[i]);
    }
    free(j.label);
    free(j.label_name);
    free(j.text);
    fi_strset_free(j.ids);
  }
  return 0;
}
