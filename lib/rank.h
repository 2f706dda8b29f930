/* rank.h - turning influence scores into ranked lists (formats/ranked.md).
 * Three steps, one per tool stage of rank:
 *   merge:  scores records (formats/scores.md) that carry the same test id
 *           (shards of a fan-out each score some training ids) become one
 *           list per test point, in input order; test points keep the order
 *           of their first appearance; optionally each score divided by
 *           the square root of its training example's self-influence;
 *   select: the top-m helpful (most negative), harmful (most positive) and
 *           influential (largest |score|) training examples, ties in input
 *           order;
 *   report: a ranked record, or a readable text view, with the fields of a
 *           join (lib/join.h) attached to training and test ids. */
#ifndef FI_RANK_H
#define FI_RANK_H
#include <stdint.h>
#include <stdio.h>

#include "classes.h"
#include "join.h"
#include "stream.h"

/* ---- merge ---- */
typedef struct fi_scores fi_scores;
/* Read every scores record ({id, ids, scores f32[n]}) of r. */
fi_scores *fi_scores_merge(fi_reader *r);
void fi_scores_free(fi_scores *s);
int64_t fi_scores_ntests(const fi_scores *s);
const char *fi_scores_test_id(const fi_scores *s, int64_t t);
/* The test ids, and the training ids scored for any of them. */
const fi_strset *fi_scores_test_ids(const fi_scores *s);
const fi_strset *fi_scores_train_ids(const fi_scores *s);

/* RelatIF (Barshan et al. 2020): every score becomes score / sqrt(self_i),
 * self_i the training example's self-influence g_i^T (H + lambda)^-1 g_i,
 * taken from the scores record with id "self" of r (influence --self).
 * Dies naming the id when a scored training id has none, or a self-
 * influence that is not positive; dies when r has no "self" record. */
void fi_scores_relative(fi_scores *s, fi_reader *r);

/* ---- select ---- */
typedef struct {
  const char *test_id;
  int64_t n;              /* training examples scored for this test point */
  const char **ids;       /* [n] their ids, merged input order */
  const float *score;     /* [n] their scores */
  /* positions into ids/score, best first */
  int64_t *helpful, nhelpful;         /* scores < 0, most negative first */
  int64_t *harmful, nharmful;         /* scores > 0, most positive first */
  int64_t *influential, ninfluential; /* min(m, n) by descending |score| */
  int64_t cap;            /* (buffers, reused from one test point to the next) */
  int64_t *order;
} fi_ranking;

/* Rank test point t of s, keeping at most m entries per list. r starts
 * zeroed and is reused; it points into s. */
void fi_rank_select(fi_ranking *r, const fi_scores *s, int64_t t, int64_t m);
void fi_ranking_free(fi_ranking *r);

/* ---- report ---- */
/* One ranked record: the test id, the query fields of the test id, then
 * helpful, harmful and influential lists of {id, score, label, label_name,
 * text} (join fields where train has them). A label or pred without a
 * name in the joined records is named from classes (classes.h). train,
 * query and classes may be NULL. */
void fi_rank_write(fi_writer *w, const fi_ranking *r, const fi_join *train,
                   const fi_join *query, const fi_classes *classes);
/* The same as text for a terminal: a header line (gold, predicted class,
 * count), the test text, then the three numbered lists ("[NAME]" after
 * each training id, or "[N]" for a class without a name) and a blank
 * line. */
void fi_rank_print_text(FILE *out, const fi_ranking *r, const fi_join *train,
                        const fi_join *query, const fi_classes *classes);

#endif
