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
  long long draw, seed, nboot;
  double alpha, level;
  const char *collect = NULL, *output = NULL, *subsets = NULL, *outputs = NULL, *id = NULL;
  const fi_opt opts[] = {
    {"draw", 0, FI_OPT_INT, &draw, "0", "draw M subsets of the training examples on stdin",
     .metavar = "M", .min = 0, .max = 1e9},
    {"alpha", 0, FI_OPT_DOUBLE, &alpha, "0.5", "--draw: fraction of the training set per subset",
     .min = 0, .max = 1},
    {"seed", 's', FI_OPT_INT, &seed, "0", "seed of the subsets (--draw) or of the bootstrap",
     .min = 0, .max = 9e18},
    {"collect", 0, FI_OPT_STR, &collect, NULL,
     "write one outputs record for subset ID from the predictions on stdin", .metavar = "ID"},
    {"output", 0, FI_OPT_CHOICE, &output, "margin", "--collect: the model output compared",
     .choices = "margin|loss"},
    {"subsets", 0, FI_OPT_STR, &subsets, NULL, "subsets records (from --draw)", .metavar = "FILE"},
    {"outputs", 0, FI_OPT_STR, &outputs, NULL, "outputs records, one per retrained subset",
     .metavar = "FILE"},
    {"bootstrap", 'b', FI_OPT_INT, &nboot, "1000", "resamples of the test points for the interval (0: none)",
     .min = 0, .max = 1e8},
    {"level", 0, FI_OPT_DOUBLE, &level, "0.95", "coverage of the bootstrap interval", .min = 0.5,
     .max = 0.9999},
    {"id", 0, FI_OPT_STR, &id, "lds", "id of the lds record (e.g. the scoring method)", .metavar = "ID"},
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
      fi_lds_draw(N, k, (uint64_t)seed, n, sel);
      fi_lds_write_subset(w, n, names, sel, k, N, alpha, (uint64_t)seed);
    }
    fi_log("%lld subsets of %lld of the %lld training examples (seed %lld)", n, (long long)k,
           (long long)N, seed);
    free(sel);
    free(names);
    fi_strset_free(ids);
  } else if (collect) {
    if (!fi_id_valid(collect)) fi_usage_error("--collect must be a valid record id");
    n = fi_lds_collect(r, w, collect, !strcmp(output, "loss") ? FI_LDS_LOSS : FI_LDS_MARGIN);
  } else {
    if (!subsets || !outputs) fi_usage_error("--subsets and --outputs go together");
    if (!fi_id_valid(id)) fi_usage_error("--id must be a valid record id");
    fi_lds *l = fi_lds_load(subsets, outputs, r);
    fi_lds_opts o = {.nboot = nboot, .level = level, .seed = (uint64_t)seed};
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
