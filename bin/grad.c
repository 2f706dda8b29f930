/* grad - per-example loss gradients, dense or factored (formats/gradients.md;
 * the records are written by lib/grad_records.c). */
#include <stdlib.h>
#include <string.h>
#include "grad_factored.h"
#include "grad_records.h"
#include "strset.h"
#include "model.h"
#include "opts.h"
#include "stream.h"
#include "util.h"

int main(int argc, char **argv) {
  enum { GOLD, PRED, SAMPLE };
  static const char *const labels[] = {"gold", "pred", "sample", NULL};
  const char *model = NULL, *params = NULL, *only = NULL;
  int label, with_l2 = 0, factored = 0;
  int64_t batch;
  uint64_t seed;
  const fi_opt opts[] = {
    FI_PATH("model", 'm', &model, NULL, "model file", .required = 1),
    FI_STR("params", 'p', &params, "default",
           "parameters: default (all but embedding.weight), all, or a comma list of names/prefixes",
           .metavar = "LIST"),
    FI_CHOICE("label", 0, &label, "gold", labels,
              "loss under the example's label, the model's prediction, or a label drawn from the model's "
              "predictive distribution (sample: the true Fisher's, for curvature; seeded by --seed and the id)"),
    FI_U64("seed", 's', &seed, "1", "--label sample: seed of the draws"),
    FI_FLAG("with-l2", 0, &with_l2, "add l2*w on the selected weights (dense only)"),
    FI_PATH("only", 0, &only, NULL,
            "keep only examples named in the \"ids\" of any record of this candidates stream",
            .metavar = "CANDIDATES"),
    FI_FLAG("factored", 0, &factored,
            "write per-layer factors a.<layer>, delta.<layer> instead of grad (formats/gradients.md)"),
    FI_I64("batch", 'b', &batch, "256", "examples per batched backward pass", .min = 1, .max = 1e7),
    {0}};
  const fi_tool tool = {
    "grad", "per-example gradients of the loss w.r.t. the selected parameters",
    "--model M [options] < examples > gradients", opts,
    "Dense records are {id, label, params, grad f32[P]}, grad concatenating the "
    "selected tensors in model order. --factored writes {id, label, params, "
    "a.layers.K f32[in], delta.layers.K f32[out], ...} for each selected dense "
    "layer K: weight gradient = outer(delta, a), bias gradient = delta."};
  fi_parse_options(&tool, argc, argv);
  if (factored && with_l2)
    fi_usage_error("--with-l2 has no factored form (l2*w is not an outer product); drop one");

  fi_model *m = fi_model_load(model);
  fi_psel ps;
  char err[512];
  if (fi_psel_parse(m, params, &ps, err, sizeof err) != 0) fi_usage_error("--params: %s", err);
  /* The resolved selection, so a reader knows what grad's entries are. */
  char *plist = fi_psel_names(m, &ps);
  fi_factored *fac = NULL;
  if (factored && !(fac = fi_factored_new(m, &ps, err, sizeof err)))
    fi_usage_error("--factored: %s", err);
  fi_strset *keep = NULL;
  if (only) {
    keep = fi_strset_new();
    int64_t nc = fi_strset_add_arrays(keep, only, "ids");
    fi_log("--only: %lld ids from %lld candidate records", (long long)fi_strset_count(keep),
           (long long)nc);
  }
  int pred = label == PRED, sample = label == SAMPLE, C = fi_model_nclasses(m);

  fi_ws *ws = fi_ws_new(m);
  fi_examples *ex = fi_examples_new(m);
  float *G = NULL, *probs = NULL; /* sized by the batches read, not by --batch */
  int64_t cap = 0;
  const int nl = fac ? fi_factored_nlayers(fac) : 0;
  fi_grad_factor lf[FI_MAX_PARAMS]; /* one record's layers */
  fi_reader *r = fi_reader_open("-");
  fi_writer *w = fi_writer_open("-");
  long long nin = 0, nout = 0;
  int eof = 0;
  while (!eof) {
    const fi_record *rec;
    while (fi_examples_count(ex) < batch && (rec = fi_read(r))) {
      nin++;
      if (keep && fi_strset_find(keep, fi_rec_id(rec)) < 0) continue;
      fi_examples_add(ex, rec, !pred && !sample);
    }
    int64_t nb = fi_examples_count(ex);
    if (nb < batch) eof = 1;
    if (nb == 0) break;
    if (nb > cap) {
      cap = nb;
      free(G);
      free(probs);
      G = fac ? NULL : fi_aligned(fi_mul_size((size_t)cap, (size_t)ps.size, "batch"), sizeof(float));
      probs = pred || sample ? fi_aligned(fi_mul_size((size_t)cap, (size_t)C, "batch"), sizeof(float)) : NULL;
    }
    if (pred) fi_label_by_prediction(m, ws, ex, nb, probs);
    if (sample) fi_label_by_sampling(m, ws, ex, nb, probs, seed);
    if (fac) {
      fi_factored_compute(fac, ex, nb);
      for (int64_t i = 0; i < nb; i++) {
        for (int j = 0; j < nl; j++) {
          int64_t in = fi_factored_in(fac, j), out = fi_factored_out(fac, j);
          lf[j] = (fi_grad_factor){.name = fi_factored_name(fac, j), .r = 1, .in = in, .out = out,
                                   .a = fi_factored_a(fac, j) + i * in,
                                   .delta = fi_factored_delta(fac, j) + i * out};
        }
        fi_grad_write_factored(w, fi_examples_id(ex, i), labels[label], fi_examples_label(ex, i), plist,
                               nl, lf);
      }
    } else {
      fi_grad_each(m, ws, &ps, ex, NULL, nb, with_l2, G);
      for (int64_t i = 0; i < nb; i++)
        fi_grad_write_dense(w, fi_examples_id(ex, i), labels[label], fi_examples_label(ex, i), plist,
                            G + i * ps.size, ps.size);
    }
    nout += nb;
    fi_examples_clear(ex);
    fi_progress("%lld examples in, %lld gradients out", nin, nout);
  }
  fi_reader_close(r);
  if (keep) fi_log("--only kept %lld of %lld examples", nout, nin);
  /* a candidates file that names none of the examples is the wrong file */
  if (keep && nin > 0 && nout == 0)
    fi_die("--only %s: none of the %lld input examples is among its ids (candidates of another "
           "training set?)", only, nin);
  fi_writer_close(w);
  fi_done(nout);
  free(G);
  free(probs);
  free(plist);
  fi_strset_free(keep);
  fi_factored_free(fac);
  fi_examples_free(ex);
  fi_ws_free(ws);
  fi_model_free(m);
  return 0;
}
