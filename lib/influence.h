/* influence.h - influence scores -grad L(z_i) . s_test (formats/scores.md)
 * from ihvp records, in the three ways the influence tool offers:
 *   a gradient stream: score_stream.h;
 *   fused: the model computes the training gradients itself, batch by batch
 *     (fi_influence_scores), for the whole training set,
 *   or only for each test point's candidate ids.
 * Every way writes one scores record {id, ids, scores f32[n]} per test point.
 * The fused pass over all of train runs on threads of its own; the rest is
 * BLAS on the calling thread. */
#ifndef FI_INFLUENCE_H
#define FI_INFLUENCE_H
#include <stdint.h>

#include "ihvp_records.h"
#include "model.h"
#include "stream.h"

/* {id, ids[0..n), scores[0..n)}. */
void fi_scores_write(fi_writer *w, const char *id, const char *const *ids,
                     const float *scores, int64_t n);

/* Where the fused pass's time went: wall seconds of the scoring pass and of
 * writing the records, and thread-seconds summed over the threads in the
 * forward/backward passes and in the score GEMMs (fi_ws_times). */
typedef struct {
  double wall, write, pass, scores;
  int threads;
} fi_fused_times;

/* Fused mode over all of train, batch examples per fi_influence_scores
 * call, the batches pulled by nthreads threads (each calling BLAS, which
 * the caller sets to one thread); the scores do not depend on nthreads.
 * Writes T scores records; fills *times when not NULL. Returns T. */
long long fi_score_training_set(const fi_ihvps *h, const fi_model *m, const fi_psel *ps,
                                const fi_examples *train, int64_t batch, int with_l2,
                                int nthreads, fi_fused_times *times, fi_writer *w);

/* Fused mode on candidates: for every record {id, ids} of cands, the scores
 * of its ids (which must be in train, named train_path in messages) against
 * the ihvp row with its id. Every ihvp row must get exactly one candidates
 * record (dies naming the ids without one). Returns the number of records
 * written. */
long long fi_score_candidates(const fi_ihvps *h, const fi_model *m, const fi_psel *ps,
                              const fi_examples *train, const char *train_path,
                              fi_reader *cands, int64_t batch, int with_l2, fi_writer *w);

#endif
