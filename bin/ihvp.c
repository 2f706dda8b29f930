/* ihvp - inverse Hessian-vector products s_test = (H + damping*scale*I)^-1 v
 * for test gradients (formats/ihvp.md). The run is lib/ihvp_run.h: its
 * setup (lib/ihvp_setup.c: the source of H, the solver, the scale and
 * shift) and its loop (lib/ihvp_solve.c: lib/test_vectors.c's inputs solved
 * by lib/solve.h's methods, lib/ihvp_records.c's records out, the
 * residuals). Here: the options, the usage rules between them, and the
 * advice, in flag names, for what the library reports. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "example_index.h"
#include "ihvp_records.h"
#include "ihvp_run.h"
#include "model.h"
#include "opts.h"
#include "solve.h"
#include "stream.h"
#include "util.h"

/* The library's defaults as option defaults (text). */
#define STR_(x) #x
#define FI_STR_(x) STR_(x)

int main(int argc, char **argv) {
  enum { AUTO }; /* methods[0]; the rest are fi_solvers' names */
  enum { GOLD, PRED };
  static const char *const methods[] = {"auto", "lissa", "cg", "exact", "hvp", "identity", NULL};
  static const char *const hessians[] = {"auto", "full", "ggn", NULL}; /* fi_ihvp_hessian */
  static const char *const labels[] = {"gold", "pred", NULL};
  const char *train_index = NULL;
  const char *model = NULL, *train = NULL, *mean_id = NULL, *params = NULL, *curvature = NULL,
             *fisher = NULL;
  fi_num_auto scale_opt, damping_opt;
  int64_t depth, batch, repeats, roff, max_iter, max_exact, group, chunk, resid_n;
  uint64_t seed;
  double shift, tol, resid_warn, auto_seconds;
  int method_i, hessian_i, label_i, threads, scale_batches, scale_iters;
  int mean = 0, from_examples = 0, do_combine = 0, factored_s = 0, rows_i;
  char ncpu[32];
  long nc = sysconf(_SC_NPROCESSORS_ONLN);
  snprintf(ncpu, sizeof ncpu, "%ld", nc > 0 ? nc : 1);
  const fi_opt opts[] = {
    FI_PATH("model", 'm', &model, NULL, "model file"),
    FI_PATH("train", 0, &train, NULL, "training examples (the Hessian's data)"),
    FI_CHOICE("train-rows", 0, &rows_i, "file", fi_rows_choices, FI_ROWS_HELP),
    FI_STR("train-index", 0, &train_index, "auto", FI_TRAIN_INDEX_HELP, .metavar = "auto|none|SIDX"),
    FI_PATH("curvature", 0, &curvature, NULL,
            "a curvature file (curvature -o): s = (C + lambda)^-1 v block by block, no model file; "
            "lambda = --damping (here default 0.1) x the block's mean eigenvalue, or --shift",
            .metavar = "CURV"),
    FI_FLAG("factored-s", 0, &factored_s,
            "--curvature (kfac or ekfac file): factored-Tikhonov K-FAC, s kept at each record's rank r as "
            "s_a.NAME [r, in+b], s_delta.NAME [r, out] (formats/ihvp.md)"),
    FI_PATH("fisher", 0, &fisher, NULL,
            "training gradient records: every method over their empirical Fisher (1/N) sum g_i g_i^T "
            "in place of H, no model file", .metavar = "TRAIN-GRADS"),
    FI_CHOICE("method", 0, &method_i, "auto", methods,
              "solver; auto = exact when it takes about --auto-seconds of CPU or less (estimated from N x P^2 and P^3), "
              "else lissa with its residual checked; hvp = no solve: write the product H v (field \"hvp\") "
              "with the solvers' full-batch H; identity = s = v, the gradient-dot-product baseline (no model "
              "file needed for gradient records)"),
    FI_DOUBLE("auto-seconds", 0, &auto_seconds, "1",
              "--method auto: the estimated time up to which exact is chosen", .min = 0, .max = 1e300),
    FI_CHOICE("hessian", 0, &hessian_i, "auto", hessians,
              "curvature H: full = the Hessian; ggn = the Gauss-Newton matrix J^T (diag p - p p^T) J + l2, "
              "positive semi-definite, so cg converges and lissa stays stable on non-convex models; "
              "auto = ggn for mlp and bow (their Hessian is indefinite: cg breaks down, lissa needs "
              "a ridge that biases the answer), full for linear (convex; there G = H)"),
    FI_I64("depth", 'J', &depth, "1000", "lissa: recursion steps J", .min = 0, .max = 1e12),
    FI_I64("batch", 'B', &batch, "1",
           "lissa: training examples per step (uniform, with replacement); also the batch of --scale auto",
           .min = 1, .max = 1e9),
    FI_I64("repeats", 'T', &repeats, "1", "lissa: independent repeats averaged", .min = 1, .max = 1e9),
    FI_I64("repeat-offset", 0, &roff, "0",
           "lissa: index of the first repeat (split repeats over processes, then --combine)", .min = 0, .max = 1e15),
    FI_NUM_AUTO("scale", 0, &scale_opt, "auto",
                "LiSSA scale, or auto = " "2 x the largest batch-Hessian eigenvalue found by power iteration",
                .metavar = "S|auto", .min = 0, .max = 1e300, .above_min = 1),
    FI_NUM_AUTO("damping", 0, &damping_opt, "auto",
                "relative ridge: every method solves (H + shift*I) s = v with shift = damping*scale "
                "(lissa needs it below 1); auto = per method: lissa 0.005, exact the least shift "
                "making H positive semi-definite (0 when it is: pseudo-inverse), cg that plus "
                "(lambda_max + that)/(kappa - 1), kappa what cg solves to --tol in --max-iter (formats/ihvp.md); "
                "with --curvature, lambda = damping x each block's mean eigenvalue (default there 0.1)",
                .metavar = "D|auto", .min = 0, .max = 1e300),
    FI_DOUBLE("shift", 0, &shift, NULL,
              "absolute ridge, in place of --damping: shift = X (lissa: damping = X/scale, below 1)",
              .metavar = "X", .min = 0, .max = 1e300),
    FI_U64("seed", 's', &seed, "1",
           "seed of the batch draws (repeat r uses a stream derived from (seed, r))"),
    FI_INT("threads", 't', &threads, ncpu, "worker threads", .min = 1, .max = 1024),
    FI_STR("params", 'p', &params, "default", "selected parameters (default | all | comma list)",
           .metavar = "LIST"),
    FI_CHOICE("label", 0, &label_i, "gold", labels, "example input: loss under the gold or predicted label"),
    FI_FLAG("from-examples", 0, &from_examples,
            "treat every input record as an example (default: records without \"grad\" are examples)"),
    FI_FLAG("mean", 0, &mean, "one ihvp for the mean loss of all input records"),
    FI_STR("id", 0, &mean_id, "mean", "record id with --mean", .metavar = "ID"),
    FI_DOUBLE("tol", 0, &tol, "1e-6", "cg: stop at relative residual tol", .min = 0, .max = 1),
    FI_I64("max-iter", 0, &max_iter, "1000", "cg: iteration cap", .min = 1, .max = 1e9),
    FI_I64("max-exact", 0, &max_exact, "4000",
           "exact: refuse more parameters than this (at most 32000: LAPACK's 32-bit workspace "
           "size of the eigendecomposition, 1 + 6P + 2P^2, overflows above it)",
           .min = 1, .max = 32000),
    FI_INT("scale-batches", 0, &scale_batches, "16", "--scale auto: random batches probed",
           .min = 1, .max = 1e6),
    FI_INT("scale-iters", 0, &scale_iters, "30", "--scale auto: power iterations per batch",
           .min = 1, .max = 1e6),
    FI_I64("group", 0, &group, "32", "test vectors solved together (memory: about 3*group*P floats)",
           .min = 1, .max = 1e6),
    FI_I64("chunk", 0, &chunk, "1024", "examples per HVP pass over a full batch", .min = 1, .max = 1e9),
    FI_I64("residual-examples", 0, &resid_n, FI_STR_(FI_RESIDUAL_MAX_N),
           "the residual |(H + shift I) s - v| / |v| of every answer is measured with one product over "
           "the training set, or over this many evenly spaced examples of a larger one; 0 = all",
           .min = 0, .max = 1e15),
    FI_DOUBLE("residual-warn", 0, &resid_warn, FI_STR_(FI_RESIDUAL_WARN),
              "say on stderr when a record's relative residual is above this", .min = 0, .max = 1e300),
    FI_FLAG("combine", 0, &do_combine,
            "average LiSSA ihvp records with the same id from FILEs (or stdin), weighted by sum_of"),
    {0}};
  const fi_tool tool = {
    "ihvp", "inverse Hessian-vector products s = (H + damping*scale*I)^-1 v for test gradients",
    "--model M --train EXAMPLES [options] < test-gradients|test-examples > ihvp\n"
    "       ihvp --combine [FILE...] > ihvp",
    opts,
    "H is the Hessian of the training objective (mean loss + l2/2 |w|^2) over the selected "
    "parameters. lissa: FastIF's recursion h_j = v + (1-damping) h_{j-1} - H_Bj h_{j-1}/scale, "
    "s = h_J/scale, averaged over repeats; cg and exact solve the same system with full-batch "
    "HVPs, so with equal --scale/--damping the three agree. Input records carrying \"grad\" "
    "f32[P] are test gradients; other records are examples whose loss gradient is computed. "
    "--method hvp writes {id, hvp, method, params, label} with hvp = H v (no shift, no "
    "solve; full batch over --train), to check HVPs against another implementation. "
    "--hessian ggn puts the Gauss-Newton matrix G in place of H everywhere (and \"hessian\": "
    "\"ggn\" in the records); it is the default for mlp and bow models, whose Hessian is "
    "indefinite (--hessian full keeps it). "
    "See formats/ihvp.md.",
    .positional_min = 0, .positional_max = 1 << 20};
  int first = fi_parse_options(&tool, argc, argv);
  if (!fi_id_valid(mean_id)) fi_usage_error("--id must be a valid record id (non-empty, no whitespace)");
  if (do_combine) {
    fi_ihvp_parts *parts = fi_ihvp_combine_read(argc - first, argv + first);
    fi_writer *w = fi_writer_open("-");
    long long nc = fi_ihvp_combine_write(parts, w);
    fi_writer_close(w);
    fi_done(nc);
    return 0;
  }
  if (argc - first > 0) fi_usage_error("unexpected argument '%s' (files are for --combine)", argv[first]);
  /* The usage rules between the options: which curvature, which data. */
  const fi_solver *named = method_i == AUTO ? NULL : fi_solver_find(methods[method_i]);
  const int no_oracle = named && named->no_oracle;
  const int model_oracle = !no_oracle && !curvature && !fisher;
  if (curvature && (fi_opt_given("method") || fi_opt_given("hessian") || fisher))
    fi_usage_error("--curvature is its own solve: --method, --hessian and --fisher do not apply");
  if (fisher && (no_oracle || fi_opt_given("hessian")))
    fi_usage_error("--fisher is the curvature: give it with --method auto, lissa, cg, exact or hvp, without --hessian");
  if (model_oracle && (!model || !train)) fi_usage_error("--model and --train are required");
  if (!model_oracle && train)
    fi_usage_error("--train is the Hessian's data: %s uses none",
                   curvature ? "--curvature" : fisher ? "--fisher" : methods[method_i]);
  const int absolute = fi_opt_given("shift");
  const double damping = damping_opt.value;
  if (absolute && fi_opt_given("damping"))
    fi_usage_error("--shift and --damping give the same ridge two ways: give one");

  const fi_ihvp_settings st = {
      .model = model, .train = train, .fisher = fisher, .curvature = curvature,
      .train_rows_file = rows_i == FI_ROWS_FILE, .train_index = fi_train_index_path(train_index),
      .train_no_index = !strcmp(train_index, "none"), .solver = named, .hessian = hessian_i,
      .auto_seconds = auto_seconds,
      .so = {.c = {.scale = scale_opt.value, .damping = damping, .shift = shift, .absolute = absolute,
                   .seed = seed, .auto_ridge = damping_opt.is_auto && !absolute},
             .lissa = {.depth = depth, .batch = batch, .repeats = repeats, .repeat_offset = roff},
             .cg = {.tol = tol, .max_iter = max_iter},
             .exact = {.max_p = max_exact}},
      .scale_auto = scale_opt.is_auto, .scale_batches = scale_batches, .scale_iters = scale_iters,
      .curv_damping = fi_opt_given("damping") && !damping_opt.is_auto ? damping : 0.1, .factored_s = factored_s,
      .threads = threads, .group = group, .chunk = chunk, .params = params, .label = labels[label_i],
      .pred_label = label_i == PRED, .from_examples = from_examples, .mean_id = mean ? mean_id : NULL,
      .residual_n = resid_n, .residual_warn = resid_warn,
      .names = {.label = "--label", .params = "--params", .shift = "--shift", .damping = "--damping",
                .auto_seconds = "--auto-seconds", .max_exact = "--max-exact"}};
  fi_ihvp_error er;
  fi_ihvp_run *run = fi_ihvp_setup(&st, &er); /* NULL: er says why */
  fi_reader *r = run ? fi_reader_open("-") : NULL;
  fi_writer *w = run ? fi_writer_open("-") : NULL;
  const long long nout = run ? fi_ihvp_solve_stream(run, r, w, &er) : -1;
  if (nout < 0) { /* the library says what happened; what to change is said here, in flags */
    fi_ihvp_free(run); /* er holds what the messages need */
    if (er.kind == FI_IHVP_ERR_SETTING) fi_opt_fail(&er.e);
    if (er.kind == FI_IHVP_ERR_FACTORED)
      fi_usage_error("--factored-s needs --curvature with a kfac or ekfac file (no --model, no --mean)");
    char diverged[256] = "";
    if (er.se.status == FI_SOLVE_DIVERGED) /* a solve's: er.ridge and er.oracle are the run's */
      snprintf(diverged, sizeof diverged,
               "increase --scale (now %g; --scale auto estimates the batch %s's top eigenvalue) or "
               "%s (now %g)", er.ridge.scale, er.oracle, absolute ? "--shift" : "--damping",
               absolute ? er.ridge.shift : er.ridge.damping);
    const char *advice[] = {
        [FI_SOLVE_DIVERGED] = diverged,
        [FI_SOLVE_INDEFINITE] = "increase --damping (or --scale, or --shift), use --hessian ggn "
                                "(positive semi-definite), or use --method exact",
        [FI_SOLVE_NO_CONVERGENCE] = "raise --max-iter or --tol, or add --damping",
        [FI_SOLVE_TOO_LARGE] = "use --method cg or lissa, select fewer --params, or raise --max-exact",
        [FI_SOLVE_NONFINITE] = "the model overflows on the training data: check the inputs' scale "
                               "and the model's weights",
        [FI_SOLVE_ZERO] = "nothing to invert: check the model and --params"};
    if (er.kind == FI_IHVP_ERR_SCALE) fi_die("--scale auto: %s (%s)", er.se.msg, advice[er.se.status]);
    if (er.kind == FI_IHVP_ERR_RIDGE) fi_die("--damping auto: %s (%s)", er.se.msg, advice[er.se.status]);
    if (er.kind == FI_IHVP_ERR_RESIDUAL) fi_die("%s (%s)", er.se.msg, advice[er.se.status]);
    fi_die("%s: %s", er.se.msg, advice[er.se.status]);
  }
  fi_reader_close(r);
  fi_ihvp_summary q;
  fi_ihvp_report(run, &q);
  /* Method-specific: what would bring the residual down. */
  if (q.nbad)
    fi_log("warning: %lld of %lld records have a relative residual above %g (worst %.3g, '%s'): "
           "their scores may be off%s; %s", q.nbad, q.n, resid_warn, q.worst, q.worst_id,
           method_i == AUTO ? " (--method auto ran lissa)" : "",
           q.solver->recursion ? "raise --depth, --batch or --repeats, or use --method cg or exact"
           : q.solver == &fi_solver_cg ? "lower --tol or raise --max-iter"
                                       : "the system is near-singular: add --shift");
  fi_writer_close(w);
  fi_done(nout);
  fi_ihvp_free(run);
  return 0;
}
