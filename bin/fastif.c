/* fastif - the front door: `fastif explain` runs the FastIF make graph
 * (pipelines/fastif.mk) on a training and a query stream and prints the
 * answer; `fastif TOOL ...` runs a tool by name, also where the shell has a
 * builtin of the same name (eval). */
#include <string.h>

#include "frontend.h"
#include "opts.h"
#include "util.h"

/* `fastif explain [options]`: the graph's knobs as options. Their defaults
 * are pipelines/fastif.mk's (tests/14-fastif.t holds them equal). */
static int explain(int argc, char **argv, const char *dir) {
  enum { GOLD, PRED };
  static const char *const labels[] = {"gold", "pred", NULL};
  static const char *const methods[] = {"auto", "lissa", "cg", "exact", NULL};
  const char *train, *query, *model, *out, *info, *arch, *params, *spec, *train_opts;
  int64_t epochs, k, depth, batch, repeats, m, jobs;
  uint64_t seed;
  double lr, l2;
  fi_num_auto scale, damping;
  int label, method, threads, full;
  const fi_opt opts[] = {
      FI_PATH("train", 0, &train, NULL, "training examples (stream)", .required = 1),
      FI_PATH("query", 0, &query, NULL, "the examples to explain (stream)", .required = 1),
      FI_PATH("model", 0, &model, NULL, "the model to explain (default: trained here on --train with the options below)"),
      FI_PATH("out", 'o', &out, NULL,
              "keep the graph's files in DIR, so a rerun resumes and remakes only what changed "
              "(default: a temporary directory, removed at the end)", .metavar = "DIR"),
      FI_STR("query-info", 0, &info, NULL,
             "files giving the queries' text, label and prediction, a comma list (default: the --query file)",
             .metavar = "FILES"),
      FI_STR("arch", 0, &arch, "bow:65536,32", "architecture trained without --model (train --arch)", .metavar = "SPEC"),
      FI_I64("epochs", 0, &epochs, "8", "training epochs", .min = 0, .max = 1e9),
      FI_DOUBLE("lr", 0, &lr, "0.01", "training step size", .min = 0, .max = 1e6),
      FI_DOUBLE("l2", 0, &l2, "0.0001", "training L2 strength", .min = 0, .max = 1e6),
      FI_STR("train-opts", 0, &train_opts, "", "more options for train (default: none)", .metavar = "OPTS"),
      FI_U64("seed", 's', &seed, "1", "seed of training and of LiSSA's batch draws"),
      FI_STR("params", 'p', &params, "default", "parameters the influence is taken over", .metavar = "LIST"),
      FI_CHOICE("label", 0, &label, "gold", labels, "explain the loss under the gold or the predicted label"),
      FI_I64("k", 'k', &k, "100", "kNN candidates per query", .min = 1, .max = 1e12),
      FI_STR("index-spec", 0, &spec, "Flat", "FAISS index_factory string", .metavar = "SPEC"),
      FI_CHOICE("method", 0, &method, "auto", methods, "inverse-HVP solver (ihvp --method; auto: exact when quick, else lissa)"),
      FI_I64("depth", 'J', &depth, "1000", "LiSSA recursion depth", .min = 0, .max = 1e12),
      FI_I64("batch", 'B', &batch, "1", "LiSSA batch", .min = 1, .max = 1e9),
      FI_I64("repeats", 'T', &repeats, "1", "LiSSA repeats", .min = 1, .max = 1e9),
      FI_NUM_AUTO("scale", 0, &scale, "auto", "LiSSA scale (ihvp --scale)", .metavar = "S|auto", .min = 0,
                  .max = 1e300, .above_min = 1),
      FI_NUM_AUTO("damping", 0, &damping, "auto", "ridge (ihvp --damping; auto: chosen per method)",
                  .metavar = "D|auto", .min = 0, .max = 1),
      FI_INT("threads", 't', &threads, "2", "ihvp threads", .min = 1, .max = 1024),
      FI_I64("top", 'm', &m, "10", "training examples listed per query and kind", .metavar = "M", .min = 1,
             .max = 1e9),
      FI_FLAG("full", 0, &full, "score every training example instead of the kNN candidates (slow; for comparison)"),
      FI_I64("jobs", 'j', &jobs, "1", "steps of the graph run at once (make -j)", .min = 1, .max = 64),
      {0}};
  const fi_tool tool = {
      "fastif explain", "which training examples helped and hurt each query's prediction most (FastIF)",
      "--train TRAIN --query QUERY [--model MODEL] [options] > answer", opts,
      "Runs the FastIF make graph, pipelines/fastif.mk (train unless --model, embed, kNN index and "
      "candidates, query gradients, LiSSA s_test, influence on the candidates, rank), and prints "
      "its `show` answer: for each query, the most helpful and harmful training examples with "
      "their influence scores. The options are the graph's knobs, with its defaults; "
      "`make -f pipelines/fastif.mk OUT=DIR TRAIN=.. QUERY=.. show` with the same knobs prints the "
      "same. Progress and the tools' logs go to standard error."};
  fi_parse_options(&tool, argc, argv);
  fi_explain_run run = {.dir = dir, .out = out, .jobs = (int)jobs, .target = full ? "show-full" : "show"};
  fi_explain_knob(&run, "TRAIN", "%s", train);
  fi_explain_knob(&run, "QUERY", "%s", query);
  if (model) fi_explain_knob(&run, "MODEL", "%s", model);
  fi_explain_knob(&run, "QUERY_INFO", "%s", info ? info : query);
  fi_explain_knob(&run, "ARCH", "%s", arch);
  fi_explain_knob(&run, "EPOCHS", "%lld", (long long)epochs);
  fi_explain_knob_num(&run, "LR", lr);
  fi_explain_knob_num(&run, "L2", l2);
  fi_explain_knob(&run, "TRAIN_OPTS", "%s", train_opts);
  fi_explain_knob(&run, "SEED", "%llu", (unsigned long long)seed);
  fi_explain_knob(&run, "PARAMS", "%s", params);
  fi_explain_knob(&run, "LABEL", "%s", labels[label]);
  fi_explain_knob(&run, "K", "%lld", (long long)k);
  fi_explain_knob(&run, "INDEX_SPEC", "%s", spec);
  fi_explain_knob(&run, "METHOD", "%s", methods[method]);
  fi_explain_knob(&run, "J", "%lld", (long long)depth);
  fi_explain_knob(&run, "B", "%lld", (long long)batch);
  fi_explain_knob(&run, "T", "%lld", (long long)repeats);
  if (scale.is_auto) fi_explain_knob(&run, "SCALE", "auto");
  else fi_explain_knob_num(&run, "SCALE", scale.value);
  if (damping.is_auto) fi_explain_knob(&run, "DAMPING", "auto");
  else fi_explain_knob_num(&run, "DAMPING", damping.value);
  fi_explain_knob(&run, "THREADS", "%d", threads);
  fi_explain_knob(&run, "M", "%lld", (long long)m);
  return fi_explain(&run);
}

int main(int argc, char **argv) {
  int list = 0;
  const fi_opt opts[] = {
      FI_FLAG("list", 'l', &list, "list the tools and exit"),
      {0}};
  const fi_tool tool = {"fastif", "the front door: explain a model's predictions, or run a fastif tool by name",
                        "explain --train TRAIN --query QUERY [options]  |  fastif TOOL [ARGS...]  |  fastif --list",
                        opts,
                        "`fastif explain` runs the FastIF graph and prints which training examples helped and hurt "
                        "each query most (fastif explain --help lists its options). `fastif TOOL` runs a tool; "
                        "useful where a tool's name is also a shell builtin: `eval --model M` in bash runs the "
                        "builtin eval, `fastif eval --model M` runs the tool.",
                        0, 1 << 20, 1, .positional_kind = "explain", .delegates = 1};
  int first = fi_parse_options(&tool, argc, argv);
  char dir[4096];
  fi_self_dir(dir, sizeof dir);
  if (list) return fi_list_tools(dir);
  if (first >= argc) fi_usage_error("which tool? (fastif --list shows them; fastif explain --help)");
  if (!strcmp(argv[first], "explain")) return explain(argc - first, argv + first, dir);
  fi_run_tool(dir, argv + first);
}
