/* grad_factored.h - per-example gradients in factored form (formats/
 * gradients.md). A dense layer's per-example gradient is an outer product:
 * d loss / d W = delta a^T and d loss / d b = delta, with a the layer's
 * input and delta the gradient of the loss w.r.t. the layer's output
 * (pre-activation). Storing (a, delta) per layer costs in+out floats
 * instead of in*out. */
#ifndef FI_GRAD_FACTORED_H
#define FI_GRAD_FACTORED_H
#include <stddef.h>
#include <stdint.h>
#include "model.h"

typedef struct fi_factored fi_factored;

/* Plan for the selection ps of m, which must name only dense-layer tensors
 * (layers.K.weight / layers.K.bias). Returns NULL and fills err when ps
 * cannot be factored (e.g. it includes embedding.weight). */
fi_factored *fi_factored_new(const fi_model *m, const fi_psel *ps, char *err, size_t errlen);
void fi_factored_free(fi_factored *f);

int fi_factored_nlayers(const fi_factored *f);           /* selected layers */
int fi_factored_layer(const fi_factored *f, int j);      /* dense layer index K */
const char *fi_factored_name(const fi_factored *f, int j); /* its name, "layers.K" */
int64_t fi_factored_in(const fi_factored *f, int j);
int64_t fi_factored_out(const fi_factored *f, int j);

/* Factors for examples 0..nb-1 of ex under their current labels (ex must
 * have been read for m): one forward and one backward pass. Allocation-free
 * once the buffers are warm. */
void fi_factored_compute(fi_factored *f, const fi_examples *ex, int64_t nb);
const float *fi_factored_a(const fi_factored *f, int j);      /* [nb, in_j] */
const float *fi_factored_delta(const fi_factored *f, int j);  /* [nb, out_j] */

#endif
