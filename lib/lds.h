/* lds.h - the linear datamodeling score (Park et al. 2023, TRAK;
 * formats/lds.md). Three steps, one per mode of the lds tool:
 *   draw:    M random training subsets of exactly k = round(alpha n) ids;
 *            subset m depends only on (seed, m, n, k), so a larger M keeps
 *            the first subsets (and the models retrained on them);
 *   collect: one subset's model outputs on the test points (margin or loss,
 *            from the predictions' probs or logits) as one outputs record;
 *   score:   for each test point, the Spearman correlation over subsets of
 *            the actual outputs with the outputs the scores predict; LDS is
 *            its mean over test points, with a percentile bootstrap interval
 *            over test points. */
#ifndef FI_LDS_H
#define FI_LDS_H
#include <stdint.h>

#include "stream.h"

/* ---- draw ---- */
/* k = round(alpha n), or die when that leaves an empty subset. */
int64_t fi_lds_subset_size(int64_t n, double alpha);
/* Subset m: exactly k of 0..n-1, ascending, into sel[k] (selection
 * sampling from a stream derived from (seed, m)). */
void fi_lds_draw(int64_t n, int64_t k, uint64_t seed, int64_t m, int64_t *sel);
/* One subsets record: {id "subset-M", index, n_train, alpha, seed, ids}. */
void fi_lds_write_subset(fi_writer *w, int64_t m, const char *const *ids, const int64_t *sel,
                         int64_t k, int64_t n, double alpha, uint64_t seed);

/* ---- collect ---- */
typedef enum { FI_LDS_MARGIN = 0, FI_LDS_LOSS } fi_lds_output;
const char *fi_lds_output_name(fi_lds_output o);
/* The output of one prediction with gold label y: margin = log p_y -
 * log max_{c != y} p_c, loss = -log p_y (from float probabilities, computed
 * in double from the other classes' mass when p_y is near 1, floored at the
 * smallest float as eval does). */
double fi_lds_from_probs(fi_lds_output o, const float *p, int C, int y);
/* The same from logits: margin = z_y - max_{c != y} z_c, loss =
 * logsumexp(z) - z_y. */
double fi_lds_from_logits(fi_lds_output o, const float *z, int C, int y);
/* Read predictions records ({id, label, logits or probs f32 [C]}) from r
 * and write one outputs record {id, output, ids, values f64 [T]}. Returns
 * the number of predictions. */
int64_t fi_lds_collect(fi_reader *r, fi_writer *w, const char *subset_id, fi_lds_output o);

/* ---- score ---- */
/* Spearman's rank correlation of x and y [n]: Pearson of their average
 * ranks (ties share the mean rank, as scipy.stats.spearmanr). NaN when
 * either is constant. work: 3n doubles. */
double fi_spearman(const double *x, const double *y, int64_t n, double *work);

typedef struct {
  int64_t nboot;    /* bootstrap resamples (0: no interval) */
  double level;     /* interval coverage, e.g. 0.95 */
  uint64_t seed;    /* of the resampling */
} fi_lds_opts;

typedef struct {
  fi_lds_output output;
  int64_t nsubsets, ntests, nundefined;  /* undefined: constant outputs or predictions */
  double lds;                            /* mean of the defined correlations */
  double lo, hi;                         /* bootstrap interval (NaN without one) */
  double scored;                         /* mean training ids scored per test point */
  const char **test_ids;                 /* [ntests] */
  double *rho;                           /* [ntests], NaN where undefined */
} fi_lds_result;

typedef struct fi_lds fi_lds;
/* Loads the subsets (subsets records), the scores (scores records from r,
 * shards merged as rank merges them) and the outputs (one outputs record
 * per retrained subset, each naming a subset and giving a value for every
 * scored test point); dies naming the record on any mismatch. */
fi_lds *fi_lds_load(const char *subsets, const char *outputs, fi_reader *scores);
/* Predicted output of subset m for test t is +sum_{i in S_m} score_ti for
 * loss and -sum for margin (influence scores are positive when a point
 * raises the test loss); unscored training ids count 0. */
void fi_lds_compute(fi_lds *l, const fi_lds_opts *o, fi_lds_result *res);
/* One lds record {id, output, lds, ci_low, ci_high, level, bootstrap, seed,
 * subsets, tests, undefined, scored, ids, spearman f64 [T]}. */
void fi_lds_write(fi_writer *w, const char *id, const fi_lds_opts *o, const fi_lds_result *res);
void fi_lds_free(fi_lds *l);

#endif
