/* test_vectors.h - the right-hand sides v of ihvp, read from a stream.
 * An input gradient record (lib/grad_records.h: "grad" f32[P], or parts
 * and factors over "params") is a test gradient, used as its dense vector;
 * any other record is an example, whose loss gradient (under its gold
 * label, or under the model's predicted class) is computed with the model,
 * batched per group. With a mean id, the whole stream becomes one vector:
 * the mean of all its records' gradients. */
#ifndef FI_TEST_VECTORS_H
#define FI_TEST_VECTORS_H
#include <stdint.h>

#include "grad_group.h"
#include "grad_records.h"
#include "model.h"
#include "stream.h"

typedef struct fi_test_vectors fi_test_vectors;

/* Vectors over the selection ps of m from r (all three must outlive the
 * reader), in groups of at most `group`; m and ps NULL: no model, every
 * record must be a gradient record, and the first one's layout gives P. from_examples: every record is an
 * example, even with "grad". pred_label: examples' loss under the model's
 * prediction, not "label"; label_opt, params_opt: the caller's names for
 * those settings, in messages about gradient records made otherwise. chunk:
 * examples per gradient pass in mean mode. mean_id: NULL, or the id of
 * the single mean vector. */
fi_test_vectors *fi_test_vectors_new(const fi_model *m, const fi_psel *ps, fi_reader *r,
                                     int64_t group, int from_examples, int pred_label,
                                     const char *label_opt, const char *params_opt, int64_t chunk,
                                     const char *mean_id);
void fi_test_vectors_free(fi_test_vectors *tv);

/* The next group of n vectors, in input order: *V gets them [n, P] and
 * *ids their record ids, both valid until the next call. Returns n; 0 at
 * the end. Mean mode reads the whole stream for one vector (dies when there
 * is no record), then ends. */
int64_t fi_test_vectors_next(fi_test_vectors *tv, const float **V, const char *const **ids);
/* Input records read so far. */
long long fi_test_vectors_nread(const fi_test_vectors *tv);
/* The vectors' length (-1 without a model before the first record), and
 * the gradient records' params (NULL before the first or when absent). */
int64_t fi_test_vectors_P(const fi_test_vectors *tv);
const char *fi_test_vectors_params(const fi_test_vectors *tv);
/* The parameters the vectors are over: with a model its selection's names
 * (fi_psel_names), else fi_test_vectors_params. */
const char *fi_test_vectors_selection(const fi_test_vectors *tv);
/* Without a model, the gradient records' layout (NULL before the first);
 * NULL with a model. */
const fi_grad_layout *fi_test_vectors_layout(const fi_test_vectors *tv);
/* For a consumer that works on layer factors (ihvp --curvature), before the
 * first fi_test_vectors_next: without a model and outside mean mode, the
 * factored layers of layer-factor records are kept as rows
 * (fi_test_vectors_factors) and not densified: their values in V are then
 * unset, only the dense parts (grad.PNAME) are there. */
void fi_test_vectors_keep_factors(fi_test_vectors *tv);
/* The factor rows of the group last returned, record s the s-th vector; or
 * NULL when kept by none (no keep, a model, whole dense records, mean). */
const fi_grad_group *fi_test_vectors_factors(const fi_test_vectors *tv);

#endif
