/* rank_test.c - lib/rank.c and lib/join.c on hand-made streams: shards of
 * one test id merge in input order, the three lists select by sign and
 * |score| with ties in input order and at most m entries, and a join fills
 * fields from later files only where earlier ones left them missing. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "join.h"
#include "rank.h"
#include "stream.h"
#include "tap.h"
#include "util.h"

static void scores(fi_writer *w, const char *id, int n, const char **ids, const float *sc) {
  fi_wbegin(w, id, 2);
  fi_wstrs(w, "ids", ids, n);
  fi_wf32(w, "scores", sc, n);
  fi_wend(w);
}

static int same(const int64_t *sel, int64_t n, const fi_ranking *r, const char *want) {
  char got[256] = "";
  for (int64_t q = 0; q < n; q++) {
    if (q) strcat(got, ",");
    strcat(got, r->ids[sel[q]]);
  }
  if (strcmp(got, want)) diag("got %s, want %s", got, want);
  return !strcmp(got, want);
}

int main(void) {
  char dir[] = "/tmp/fi-rank-test.XXXXXX", sp[64], j1[64], j2[64];
  if (!mkdtemp(dir)) return 1;
  snprintf(sp, sizeof sp, "%s/scores", dir);
  snprintf(j1, sizeof j1, "%s/ex", dir);
  snprintf(j2, sizeof j2, "%s/pred", dir);
  fi_writer *w = fi_writer_open(sp);
  scores(w, "t1", 3, (const char *[]){"a", "b", "c"}, (const float[]){0.5f, -1, 2});
  scores(w, "t2", 2, (const char *[]){"a", "d"}, (const float[]){-3, 0});
  scores(w, "t1", 3, (const char *[]){"d", "e", "f"}, (const float[]){-1, -2, 0});
  fi_writer_close(w);
  w = fi_writer_open(j1);
  fi_wbegin(w, "a", 2); fi_wint(w, "label", 1); fi_wstr(w, "text", "first"); fi_wend(w);
  fi_wbegin(w, "t1", 1); fi_wint(w, "label", 0); fi_wend(w);
  fi_writer_close(w);
  w = fi_writer_open(j2);
  fi_wbegin(w, "t1", 3); fi_wint(w, "label", 5); fi_wint(w, "pred", 1); fi_wstr(w, "text", "q"); fi_wend(w);
  fi_writer_close(w);

  fi_reader *r = fi_reader_open(sp);
  fi_scores *s = fi_scores_merge(r);
  fi_reader_close(r);
  ok(fi_scores_ntests(s) == 2 && !strcmp(fi_scores_test_id(s, 0), "t1") &&
     !strcmp(fi_scores_test_id(s, 1), "t2"), "tests in order of first appearance");
  fi_ranking rk = {0};
  fi_rank_select(&rk, s, 0, 10);
  ok(rk.n == 6 && same((int64_t[]){0, 1, 2, 3, 4, 5}, 6, &rk, "a,b,c,d,e,f"),
     "shards of t1 merged in input order");
  ok(same(rk.helpful, rk.nhelpful, &rk, "e,b,d"), "helpful: negative only, most negative first, ties in input order");
  ok(same(rk.harmful, rk.nharmful, &rk, "c,a"), "harmful: positive only, most positive first");
  ok(same(rk.influential, rk.ninfluential, &rk, "c,e,b,d,a,f"), "influential: all by |score|, ties in input order");
  fi_rank_select(&rk, s, 0, 2);
  ok(same(rk.helpful, rk.nhelpful, &rk, "e,b") && same(rk.influential, rk.ninfluential, &rk, "c,e"),
     "m caps every list");
  fi_rank_select(&rk, s, 1, 10);
  ok(rk.nharmful == 0 && same(rk.helpful, rk.nhelpful, &rk, "a"), "a zero score is neither helpful nor harmful");

  fi_join *j = fi_join_new();
  ok(fi_join_load(j, j1, NULL) == 2, "join: every record without a wanted set");
  char list[140];
  snprintf(list, sizeof list, "%s,%s", j1, j2);
  fi_join *q = fi_join_new();
  ok(fi_join_load_list(q, list, fi_scores_test_ids(s)) == NULL, "join list: every file has a wanted id");
  fi_join *jt = fi_join_new();
  ok(fi_join_load(jt, j1, fi_scores_train_ids(s)) == 1 && fi_join_find(jt, "a") && !fi_join_find(jt, "t1"),
     "join: only wanted ids are kept and counted");
  const char *un = fi_join_load_list(jt, list, fi_scores_train_ids(s));
  ok(un && !strcmp(un, j2), "join list: names the first file with no wanted id (%s)", un ? un : "none");
  fi_join_free(jt);
  const fi_join_fields *a = fi_join_find(j, "a"), *t1 = fi_join_find(q, "t1");
  ok(a && a->label == 1 && !strcmp(a->text, "first") && a->pred < 0 && !a->label_name,
     "join: fields of the file, -1/NULL for missing ones");
  ok(t1 && t1->label == 0 && t1->pred == 1 && t1->text && !strcmp(t1->text, "q"),
     "join list: a later file fills only what is missing");
  ok(!fi_join_find(j, "zz") && !fi_join_find(NULL, "a"), "join: unknown id or no join gives NULL");

  fi_ranking_free(&rk);
  fi_scores_free(s);
  fi_join_free(j);
  fi_join_free(q);
  unlink(sp);
  unlink(j1);
  unlink(j2);
  rmdir(dir);
  return done_testing();
}
