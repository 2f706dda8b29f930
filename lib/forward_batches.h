/* forward_batches.h - a model's forward pass over an example stream, batch
 * by batch (eval, embed): the examples, workspace and output buffers that
 * every such loop needs, sized by the batches actually read. */
#ifndef FI_FORWARD_BATCHES_H
#define FI_FORWARD_BATCHES_H
#include <stdint.h>

#include "model.h"
#include "stream.h"

typedef struct fi_forward_batches fi_forward_batches;
/* Batches of at most `batch` examples of r (labels optional) through m;
 * with_probs / with_emb: compute the class probabilities [nb, C] / the
 * embeddings [nb, E] (fi_model_embed_dim). */
fi_forward_batches *fi_forward_batches_new(const fi_model *m, fi_reader *r, int64_t batch, int with_probs,
                                           int with_emb);
/* The next batch: returns its size nb (0 at the end of the stream); *ex,
 * *probs and *emb (each may be NULL) stay valid until the next call. */
int64_t fi_forward_batches_next(fi_forward_batches *fb, const fi_examples **ex, const float **probs,
                                const float **emb);
void fi_forward_batches_free(fi_forward_batches *fb);

#endif
