/* eval - predictions of a model on an example stream. */
#include <float.h>
#include <math.h>
#include "forward_batches.h"
#include "model.h"
#include "opts.h"
#include "stream.h"
#include "train.h"
#include "util.h"

int main(int argc, char **argv) {
  const char *model = NULL;
  int64_t batch;
  const fi_opt opts[] = {
    FI_PATH("model", 'm', &model, NULL, "model file", .required = 1),
    FI_I64("batch", 'b', &batch, "1024", "examples per forward pass", .min = 1, .max = 1e7),
    {0}};
  const fi_tool tool = {
    "eval", "predict classes and losses for an example stream",
    "--model M < examples > predictions", opts,
    "Writes {id, label, pred, loss, probs f32[C]} per example (label and loss "
    "only when the example has a label; pred_name when the model names its "
    "classes) and logs accuracy and mean loss over the labelled examples."};
  fi_parse_options(&tool, argc, argv);

  fi_model *m = fi_model_load(model);
  int C = fi_model_nclasses(m);
  fi_reader *r = fi_reader_open("-");
  fi_writer *w = fi_writer_open("-");
  fi_forward_batches *fb = fi_forward_batches_new(m, r, batch, 1, 0);
  const fi_examples *ex;
  const float *probs;
  long long n = 0, nlab = 0, correct = 0;
  double sumloss = 0;
  int64_t nb;
  while ((nb = fi_forward_batches_next(fb, &ex, &probs, NULL)) > 0) {
    for (int64_t i = 0; i < nb; i++) {
      const float *p = probs + i * C;
      fi_probs_check(p, C, fi_examples_id(ex, i));
      int pred = fi_argmax(p, C);
      int32_t y = fi_examples_label(ex, i);
      const char *pname = fi_model_class_name(m, pred);
      fi_wbegin(w, fi_examples_id(ex, i), (y >= 0 ? 4 : 2) + (pname != NULL));
      if (y >= 0) {
        /* From the float probabilities, floored so a saturated softmax
         * gives a large finite loss (about 103) rather than inf. */
        double loss = -log(fmax((double)p[y], (double)FLT_TRUE_MIN));
        fi_wint(w, "label", y);
        fi_wint(w, "pred", pred);
        fi_wdouble(w, "loss", loss);
        sumloss += loss;
        correct += pred == y;
        nlab++;
      } else {
        fi_wint(w, "pred", pred);
      }
      if (pname) fi_wstr(w, "pred_name", pname);
      fi_wf32(w, "probs", p, C);
      fi_wend(w);
    }
    n += nb;
    fi_progress("%lld examples", n);
  }
  fi_reader_close(r);
  if (nlab > 0)
    fi_log("accuracy %.4f (%lld/%lld), mean loss %.6f", (double)correct / (double)nlab, correct,
           nlab, sumloss / (double)nlab);
  else
    fi_log("no labelled examples: no accuracy or loss");
  fi_writer_close(w);
  fi_done(n);
  fi_forward_batches_free(fb);
  fi_model_free(m);
  return 0;
}
