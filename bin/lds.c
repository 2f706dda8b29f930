/* lds - the linear datamodeling score (formats/lds.md): draw training
 * subsets, collect a retrained model's outputs, score influence against
 * them. The work is in lib/lds.c. */
#include <stdlib.h>
#include <string.h>

#include "lds.h"
#include "opts.h"
#include "stream.h"
#include "strset.h"
#include "util.h"

int main(int argc, char **argv) {
  enum { MARGIN, LOSS };
  static const char *const kinds[] = {"margin", "loss", NULL};
  int64_t draw, nboot;
  uint64_t seed;
  double alpha, level;
  int output;
  const char *collect = NULL, *subsets = NULL, *outputs = NULL, *id = NULL;
  const fi_opt opts[] = {
    FI_I64("draw", 0, &draw, "0", "draw M subsets of the training examples on stdin",
           .metavar = "M", .min = 0, .max = 1e9),
    FI_DOUBLE("alpha", 0, &alpha, "0.5", "--draw: fraction of the training set per subset",
              .min = 0, .max = 1),
    FI_U64("seed", 's', &seed, "0", "seed of the subsets (--draw) or of the bootstrap"),
    FI_STR("collect", 0, &collect, NULL,
           "write one outputs record for subset ID from the predictions on stdin", .metavar = "ID"),
    FI_CHOICE("output", 0, &output, "margin", kinds, "--collect: the model output compared"),
    FI_PATH("subsets", 0, &subsets, NULL, "subsets records (from --draw)"),
    FI_PATH("outputs", 0, &outputs, NULL, "outputs records, one per retrained subset"),
    FI_I64("bootstrap", 'b', &nboot, "1000", "resamples of the test points for the interval (0: none)",
           .min = 0, .max = 1e8),
    FI_DOUBLE("level", 0, &level, "0.95", "coverage of the bootstrap interval", .min = 0.5,
              .max = 0.9999),
    FI_STR("id", 0, &id, "lds", "id of the lds record (e.g. the scoring method)", .metavar = "ID"),
    {0}};
  const fi_tool tool = {
    "lds", "linear datamodeling score: subsets, retrained outputs, rank correlation with influence",
    "--draw M [--alpha A] [--seed S] < train > subsets\n"
    "       lds --collect ID [--output margin|loss] < predictions > outputs\n"
    "       lds --subsets S --outputs O [--bootstrap B] [--seed S] [--id NAME] < scores > lds",
    opts,
    "--draw: subset m holds exactly round(alpha N) training ids, drawn from (seed, m) alone, so "
    "more subsets keep the first ones. --collect: margin = log p_y - log max_{c!=y} p_c, "
    "loss = -log p_y, from each prediction's logits or probs and gold label. Scoring: the "
    "predicted output of subset m is sum_{i in S_m} score_i for loss and minus that for "
    "margin (scores are positive when a point raises the test loss; unscored points count 0); "
    "LDS = mean over test points of the Spearman correlation over subsets of predicted and "
    "actual outputs; the interval is a percentile bootstrap over test points. See "
    "formats/lds.md."};
  fi_parse_options(&tool, argc, argv);
  int modes = (draw > 0) + (collect != NULL) + (subsets || outputs);
  if (modes != 1) fi_usage_error("give one of --draw M, --collect ID, or --subsets and --outputs");
  fi_reader *r = fi_reader_open("-");
  fi_writer *w = fi_writer_open("-");
  long long n;
  if (draw > 0) {
    fi_strset *ids = fi_strset_new();
    const fi_record *rec;
    while ((rec = fi_read(r)))
      if (fi_strset_add(ids, fi_rec_id(rec)) < 0) fi_rec_die(rec, "duplicate training id");
    int64_t N = fi_strset_count(ids);
    if (N == 0) fi_die("no training examples on stdin");
    int64_t k = fi_lds_subset_size(N, alpha);
    const char **names = fi_malloc(fi_mul_size((size_t)N, sizeof *names, "ids"));
    for (int64_t i = 0; i < N; i++) names[i] = fi_strset_at(ids, i);
    int64_t *sel = fi_malloc(fi_mul_size((size_t)k, sizeof *sel, "subset"));
    for (n = 0; n < draw; n++) {
      fi_lds_draw(N, k, seed, n, sel);
      fi_lds_write_subset(w, n, names, sel, k, N, alpha, seed);
    }
    fi_log("%lld subsets of %lld of the %lld training examples (seed %llu)", n, (long long)k,
           (long long)N, (unsigned long long)seed);
    free(sel);
    free(names);
    fi_strset_free(ids);
  } else if (collect) {
    if (!fi_id_valid(collect)) fi_usage_error("--collect must be a valid record id");
    n = fi_lds_collect(r, w, collect, output == LOSS ? FI_LDS_LOSS : FI_LDS_MARGIN);
  } else {
    if (!subsets || !outputs) fi_usage_error("--subsets and --outputs go together");
    if (!fi_id_valid(id)) fi_usage_error("--id must be a valid record id");
    fi_lds *l = fi_lds_load(subsets, outputs, r);
    fi_lds_opts o = {.nboot = nboot, .level = level, .seed = seed};
    fi_lds_result res;
    fi_lds_compute(l, &o, &res);
    fi_lds_write(w, id, &o, &res);
    if (nboot > 0)
      fi_log("%s: LDS %.4f (%g%% CI %.4f..%.4f) over %lld test points, %lld subsets, %s; %lld undefined",
             id, res.lds, 100 * level, res.lo, res.hi, (long long)res.ntests,
             (long long)res.nsubsets, fi_lds_output_name(res.output), (long long)res.nundefined);
    else
      fi_log("%s: LDS %.4f over %lld test points, %lld subsets, %s; %lld undefined", id, res.lds,
             (long long)res.ntests, (long long)res.nsubsets, fi_lds_output_name(res.output),
             (long long)res.nundefined);
    n = res.ntests;
    fi_lds_free(l);
  }
  fi_reader_close(r);
  fi_writer_close(w);
  fi_done(n);
  return 0;
}
