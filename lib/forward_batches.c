/* forward_batches.c - forward passes over an example stream (see
 * forward_batches.h). */
#include "forward_batches.h"

#include <stdlib.h>

#include "util.h"

struct fi_forward_batches {
  const fi_model *m;
  fi_reader *r;
  int64_t batch, cap;
  int with_probs, with_emb;
  fi_ws *ws;
  fi_examples *ex;
  float *probs, *emb;   /* [cap, C], [cap, E] */
};

fi_forward_batches *fi_forward_batches_new(const fi_model *m, fi_reader *r, int64_t batch, int with_probs,
                                           int with_emb) {
  fi_forward_batches *fb = fi_calloc(1, sizeof *fb);
  *fb = (fi_forward_batches){.m = m, .r = r, .batch = batch, .with_probs = with_probs, .with_emb = with_emb,
                             .ws = fi_ws_new(m), .ex = fi_examples_new(m)};
  return fb;
}

int64_t fi_forward_batches_next(fi_forward_batches *fb, const fi_examples **ex, const float **probs,
                                const float **emb) {
  fi_examples_clear(fb->ex);
  int64_t nb = fi_examples_read(fb->ex, fb->r, fb->batch, 0);
  if (nb > fb->cap) { /* sized by the batches read, not by the batch setting */
    fb->cap = nb;
    free(fb->probs);
    free(fb->emb);
    size_t n = (size_t)fb->cap;
    fb->probs = fb->with_probs ? fi_aligned(fi_mul_size(n, (size_t)fi_model_nclasses(fb->m), "batch"), sizeof(float))
                               : NULL;
    fb->emb = fb->with_emb ? fi_aligned(fi_mul_size(n, (size_t)fi_model_embed_dim(fb->m), "batch"), sizeof(float))
                           : NULL;
  }
  if (nb > 0) fi_forward(fb->m, fb->ws, fb->ex, NULL, nb, fb->probs, fb->emb);
  if (ex) *ex = fb->ex;
  if (probs) *probs = fb->probs;
  if (emb) *emb = fb->emb;
  return nb;
}

void fi_forward_batches_free(fi_forward_batches *fb) {
  if (!fb) return;
  free(fb->probs);
  free(fb->emb);
  fi_examples_free(fb->ex);
  fi_ws_free(fb->ws);
  free(fb);
}
