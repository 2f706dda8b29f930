/* finetune-step - a few plain SGD steps of a model on an example stream. */
#include "model.h"
#include "opts.h"
#include "stream.h"
#include "train.h"
#include "util.h"

int main(int argc, char **argv) {
  const char *model = NULL, *params = NULL, *out = NULL;
  double lr, wd;
  int64_t steps, batch;
  uint64_t seed;
  const fi_opt opts[] = {
    FI_PATH("model", 'm', &model, NULL, "model file to start from", .required = 1),
    FI_DOUBLE("lr", 0, &lr, NULL, "step size", .required = 1, .min = 0, .max = 1e6),
    FI_I64("steps", 'n', &steps, "1", "SGD steps", .min = 0, .max = 1e9),
    FI_I64("batch", 'b', &batch, "0", "examples per step (0 = all of them: full-batch steps)",
           .min = 0, .max = 1e9),
    FI_DOUBLE("weight-decay", 0, &wd, "0", "add wd*w to the gradient of weight tensors (not biases)",
              .min = 0, .max = 1e6),
    FI_STR("params", 'p', &params, "all",
           "parameters to update: all, default, or a comma list of names/prefixes", .metavar = "LIST"),
    FI_U64("seed", 's', &seed, "1", "mini-batch order seed"),
    FI_PATH("output", 'o', &out, "-", "model file (written atomically; - = stdout)"),
    {0}};
  const fi_tool tool = {
    "finetune-step", "take plain SGD steps on the mean loss of the given examples (gold labels)",
    "--model M --lr X [--steps N] < examples > model", opts,
    "Each step: theta -= lr * (grad of the mean loss over a mini-batch + wd * w). "
    "The model's own l2 is not applied (use --weight-decay). Deterministic."};
  fi_parse_options(&tool, argc, argv);

  fi_model *m = fi_model_load(model);
  fi_psel ps;
  char err[512];
  if (fi_psel_parse(m, params, &ps, err, sizeof err) != 0) fi_usage_error("--params: %s", err);
  fi_reader *r = fi_reader_open("-");
  fi_examples *ex = fi_examples_new(m);
  fi_examples_read(ex, r, 0, 1);
  fi_reader_close(r);
  if (fi_examples_count(ex) == 0) fi_die("no examples on stdin");
  fi_finetune(m, &ps, ex, lr, steps, batch, wd, seed);
  fi_model_save(m, out);
  fi_done(fi_examples_count(ex));
  fi_examples_free(ex);
  fi_model_free(m);
  return 0;
}
