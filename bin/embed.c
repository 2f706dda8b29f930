/* embed - the classifier input (last hidden layer) of each example. */
#include "forward_batches.h"
#include "model.h"
#include "opts.h"
#include "stream.h"
#include "util.h"

int main(int argc, char **argv) {
  const char *model = NULL;
  int64_t batch;
  const fi_opt opts[] = {
    FI_PATH("model", 'm', &model, NULL, "model file", .required = 1),
    FI_I64("batch", 'b', &batch, "1024", "examples per forward pass", .min = 1, .max = 1e7),
    {0}};
  const fi_tool tool = {
    "embed", "write each example's embedding: the input of the model's classifier layer",
    "--model M < examples > embeddings", opts,
    "Writes {id, emb f32[E]}: the last hidden layer for mlp and bow, x itself "
    "for linear. Labels are not needed."};
  fi_parse_options(&tool, argc, argv);

  fi_model *m = fi_model_load(model);
  int64_t E = fi_model_embed_dim(m);
  fi_reader *r = fi_reader_open("-");
  fi_writer *w = fi_writer_open("-");
  fi_forward_batches *fb = fi_forward_batches_new(m, r, batch, 0, 1);
  const fi_examples *ex;
  const float *emb;
  long long n = 0;
  int64_t nb;
  while ((nb = fi_forward_batches_next(fb, &ex, NULL, &emb)) > 0) {
    for (int64_t i = 0; i < nb; i++) {
      fi_wbegin(w, fi_examples_id(ex, i), 1);
      fi_wf32(w, "emb", emb + i * E, E);
      fi_wend(w);
    }
    n += nb;
    fi_progress("%lld examples", n);
  }
  fi_reader_close(r);
  fi_writer_close(w);
  fi_done(n);
  fi_forward_batches_free(fb);
  fi_model_free(m);
  return 0;
}
