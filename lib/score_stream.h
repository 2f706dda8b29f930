/* score_stream.h - influence scores -g_i . s_test of a stream of gradient
 * records (formats/gradients.md: dense "grad", or layer factors of any
 * rank r with dense parts) against ihvp records, dense or factored
 * (formats/ihvp.md): the stream mode of influence (formats/scores.md).
 * Nothing is needed beyond the two streams: the gradient records say
 * their params, widths and bias.
 *
 * Per factored layer, with a batch's rows stacked (a row = [a_t, 1] when
 * the layer has a bias, and delta_t):
 *   dense s_test:    one GEMM of the rows against the T blocks S_t
 *                    ([T*out, in+b], stacked once), a row-wise dot with
 *                    delta, and a segmented sum over each record's rows;
 *   factored s_test: S_t = sum_v sd_v sa_v^T, so the score is
 *                    -sum_{u,v} (delta_u . sd_v)(a_u . sa_v): two GEMMs of
 *                    the rows against all tests' factor rows, an
 *                    elementwise product, and a sum per (record, test)
 *                    block, O(r r_t (in + out)) per pair;
 * a dense part is one GEMM against its block of s_test. */
#ifndef FI_SCORE_STREAM_H
#define FI_SCORE_STREAM_H
#include <stdint.h>

#include "ihvp_records.h"
#include "model.h"
#include "stream.h"

/* Score every gradient record of r against every row of h, at most batch
 * records (or 4 x batch factor rows of a layer) per GEMM batch; writes T
 * scores records (train ids in input order); dies when r has no record.
 * m (may be NULL) and its selection ps, when given, are checked to be
 * what the records are over. Returns the number of records written. */
long long fi_score_gradient_stream(const fi_ihvps *h, const fi_model *m, const fi_psel *ps,
                                   int64_t batch, fi_reader *r, fi_writer *w);

#endif
