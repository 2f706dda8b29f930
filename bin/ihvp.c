/* ihvp - inverse Hessian-vector products s_test = (H + damping*scale*I)^-1 v
 * for test gradients (formats/ihvp.md). The work is in lib/test_vectors.c
 * (inputs), lib/model_oracle.h (H), lib/solve.h (the methods) and
 * lib/ihvp_records.c (records out, --combine). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "curvature.h"
#include "fisher_oracle.h"
#include "ihvp_records.h"
#include "model_oracle.h"
#include "solve.h"
#include "model.h"
#include "opts.h"
#include "stream.h"
#include "test_vectors.h"
#include "util.h"

/* The library's defaults as option defaults (text). */
#define STR_(x) #x
#define FI_STR_(x) STR_(x)

int main(int argc, char **argv) {
  enum { AUTO, LISSA, CG, EXACT, HVP, IDENTITY };
  enum { HESS_AUTO, FULL, GGN };
  enum { GOLD, PRED };
  static const char *const methods[] = {"auto", "lissa", "cg", "exact", "hvp", "identity", NULL};
  static const char *const hessians[] = {"auto", "full", "ggn", NULL};
  static const char *const labels[] = {"gold", "pred", NULL};
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
                "lambda_max/kappa, kappa what cg solves to --tol in --max-iter (formats/ihvp.md); "
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
    FI_I64("max-exact", 0, &max_exact, "4000", "exact: refuse more parameters than this",
           .min = 1, .max = 1e6),
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
  const char *label = labels[label_i];
  double scale = scale_opt.value;
  const int scale_auto = scale_opt.is_auto;
  /* The model's Hessian needs the model and its training set; identity needs
   * neither; --curvature and --fisher bring their own curvature. */
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
  /* The solvers' parallelism is ours (threads over repeats/vectors); nested
   * BLAS threads would only oversubscribe the cores. The product, identity
   * and --curvature's GEMMs run on this thread and keep BLAS's. */
  if (threads > 1 && method_i != HVP && !no_oracle && !curvature) fi_blas_threads(1);

  /* Without a model file the input must be gradient records; P is theirs. */
  fi_model *m = model ? fi_model_load(model) : NULL;
  fi_psel ps;
  char err[256];
  if (m && fi_psel_parse(m, params, &ps, err, sizeof err)) fi_usage_error("--params: %s", err);
  int64_t P = m ? ps.size : -1;
  fi_examples *tr = NULL;
  fi_model_oracle *mo = NULL;
  fi_fisher_oracle *fo = NULL;
  const int ggn = hessian_i == GGN ||
                  (m && hessian_i == HESS_AUTO && fi_model_default_curvature(m) == FI_CURV_GGN);
  const char *hessian = ggn ? "ggn" : "full";
  fi_oracle o = {.P = P, .nthreads = 1, .name = "identity"};
  if (model_oracle) {
    tr = fi_examples_load_as(m, train, 1, rows_i == FI_ROWS_FILE);
    fi_examples_cache_bags(tr, m); /* the model is fixed here: sum each bag once */
    if (fi_examples_count(tr) == 0) fi_die("%s: no training examples", train);
    /* a chunk never needs to exceed the training set */
    const int64_t ntrain = fi_examples_count(tr);
    mo = fi_model_oracle_new(m, &ps, tr, ggn ? FI_CURV_GGN : FI_CURV_HESSIAN, threads,
                             chunk < ntrain ? chunk : ntrain, &o);
  } else if (fisher) {
    fo = fi_fisher_oracle_new(fisher, threads, chunk, &o);
  }
  double est = 0;
  const fi_solver *sv = named ? named
                        : curvature ? &fi_solver_identity /* its own inverse, below */
                        : fi_solver_auto(o.N, o.P, max_exact, auto_seconds, &est);
  if (model_oracle)
    fi_log("%s: %lld training examples, %lld parameters (%s), method %s%s", train,
           (long long)o.N, (long long)P, params, sv->name, ggn ? ", Gauss-Newton curvature" : "");
  else if (fisher)
    fi_log("%s: empirical Fisher of %lld training gradients, %lld parameters, method %s", fisher,
           (long long)o.N, (long long)o.P, sv->name);
  if (method_i == AUTO && !curvature)
    fi_log("method auto: %s (exact would take about %.2g s%s, the limit is --auto-seconds %g)%s",
           sv->name, est, o.P > max_exact ? " and P is above --max-exact" : "", auto_seconds,
           sv == &fi_solver_lissa ? "; its answers are checked by their residual" : "");
  fi_solve_opts so = {
      .c = {.damping = damping, .shift = shift, .absolute = absolute, .seed = seed,
            .auto_ridge = damping_opt.is_auto && !absolute},
      .lissa = {.depth = depth, .batch = batch, .repeats = repeats, .repeat_offset = roff},
      .cg = {.tol = tol, .max_iter = max_iter},
      .exact = {.max_p = max_exact}};
  fi_solve_common *sc = &so.c;
  /* Only LiSSA's recursion needs the scale once the shift is given or automatic. */
  const int need_scale = (model_oracle || fisher) && fi_solve_needs_scale(sv, sc);
  /* Every solve over an oracle is checked by one product with it. */
  const int measured = (model_oracle || fisher) && sv->solves;
  /* What a failure tells the user to change, by kind (the library's
   * message says what happened). */
  char diverged[256];
  const char *advice[] = {
      [FI_SOLVE_DIVERGED] = diverged,
      [FI_SOLVE_INDEFINITE] = "increase --damping (or --scale, or --shift), use --hessian ggn "
                              "(positive semi-definite), or use --method exact",
      [FI_SOLVE_NO_CONVERGENCE] = "raise --max-iter or --tol, or add --damping",
      [FI_SOLVE_TOO_LARGE] = "use --method cg or lissa, select fewer --params, or raise --max-exact",
      [FI_SOLVE_NONFINITE] = "the model overflows on the training data: check the inputs' scale "
                             "and the model's weights",
      [FI_SOLVE_ZERO] = "nothing to invert: check the model and --params"};
  fi_solve_error se;
  if (scale_auto) scale = 0;
  if (scale_auto && need_scale &&
      fi_auto_scale(&o, batch, scale_batches, scale_iters, FI_SCALE_PROBE_SEED, &scale, &se))
    fi_die("--scale auto: %s (%s)", se.msg, advice[se.status]);
  sc->scale = need_scale ? scale : 0;
  if (!curvature &&
      fi_solve_auto_ridge(sv, model_oracle || fisher ? &o : NULL, &so, &se))
    fi_die("--damping auto: %s (%s)", se.msg, advice[se.status]);
  fi_err e;
  if (!curvature && fi_solve_set_shift(sv, sc, &e)) fi_opt_fail(&e);
  /* --curvature: a ridge per block, relative to its mean eigenvalue (Kronfluence's 0.1) or absolute */
  fi_curv *cv = curvature ? fi_curv_load(curvature) : NULL;
  fi_curv_ws *cws = cv ? fi_curv_ws_new(cv) : NULL;
  const fi_curv_ridge ridge = {.damping = fi_opt_given("damping") && !damping_opt.is_auto ? damping : 0.1,
                               .shift = absolute ? shift : -1, .kfac = factored_s};
  double *lam = cv ? fi_calloc(cv->nblocks, sizeof *lam) : NULL;
  const char **bnames = cv ? fi_calloc(cv->nblocks, sizeof *bnames) : NULL;
  if (cv) {
    fi_curv_lambdas(cv, &ridge, lam);
    for (int b = 0; b < cv->nblocks; b++) bnames[b] = cv->b[b].name;
    fi_log("%s: %s curvature of %lld records, %d blocks, P = %lld; lambda %s", curvature,
           fi_curv_methods[cv->method], (long long)cv->n, cv->nblocks, (long long)cv->P,
           absolute ? "= --shift" : "= damping x each block's mean eigenvalue");
  }
  const char *given = absolute ? " (--shift given)" : sc->auto_ridge ? " (--damping auto)" : "";
  if (sv->solves && sc->scale > 0 && !sc->absolute)
    fi_log("shift %.6g = damping %.6g x scale %.6g%s", sc->shift, sc->damping, sc->scale, given);
  else if (sv->solves && !curvature)
    fi_log("shift %.6g%s", sc->shift, given);
  snprintf(diverged, sizeof diverged,
           "increase --scale (now %g; --scale auto estimates the batch %s's top eigenvalue) or "
           "%s (now %g)", sc->scale, fi_oracle_name(&o), absolute ? "--shift" : "--damping",
           absolute ? sc->shift : sc->damping);
  fi_ihvp_meta meta = {.solver = sv, .opt = &so, .params = params, .label = label,
                       .hessian = model_oracle ? hessian : fisher ? "fisher" : NULL};
  fi_ihvp_curv_meta cmeta = {.kind = cv ? fi_curv_methods[cv->method] : NULL, .absolute = absolute,
                             .damping = ridge.damping, .shift = shift, .nblocks = cv ? cv->nblocks : 0,
                             .blocks = bnames, .lam = lam, .params = params, .label = label};

  fi_reader *r = fi_reader_open("-");
  fi_writer *w = fi_writer_open("-");
  if (factored_s) { /* s stays in factor form: a pass of its own over the factor records */
    if (!cv || cv->method == FI_CURV_DIAG || mean || model)
      fi_usage_error("--factored-s needs --curvature with a kfac or ekfac file (no --model, no --mean)");
    cmeta.kind = "kfac"; /* Tikhonov K-FAC uses A and G, not ekfac's eigenvalues */
    int64_t n = fi_curv_factored_s(cv, lam, r, w, &cmeta, &e);
    if (n < 0) fi_opt_fail(&e);
    if (n == 0) fi_die("no input records on %s (test gradients)", fi_reader_name(r));
    fi_reader_close(r);
    fi_writer_close(w);
    fi_done(n);
    fi_curv_ws_free(cws);
    fi_curv_free(cv);
    free(lam);
    free(bnames);
    return 0;
  }
  fi_test_vectors *tv = fi_test_vectors_new(m, m ? &ps : NULL, r, mean ? 1 : group, from_examples,
                                            label_i == PRED, "--label", "--params", chunk,
                                            mean ? mean_id : NULL);
  float *S = NULL; /* sized by the groups read, not by --group */
  double *res = NULL, *spread = NULL;
  int64_t scap = 0;
  /* The quality report over the run: the worst residual and spread. */
  double worst = -1, worst_spread = -1, sum_res = 0;
  char worst_id[128] = "";
  long long nbad = 0;
  int64_t res_examples = 0;
  const float *V;
  const char *const *ids;
  long long nout = 0;
  double tsolve = 0;
  for (int64_t ns; (ns = fi_test_vectors_next(tv, &V, &ids)) > 0;) {
    if (P < 0 || (fo && nout == 0)) { /* no model: the gradient records say what they are over */
      P = fi_test_vectors_P(tv);
      if (fo && fi_fisher_oracle_check(fo, P, fi_test_vectors_params(tv), &e)) fi_opt_fail(&e);
      o.P = P;
      if (fi_test_vectors_params(tv)) meta.params = cmeta.params = fi_test_vectors_params(tv);
    }
    if (cv && nout == 0 &&
        fi_curv_check_layout(cv, fi_test_vectors_layout(tv), P, fi_test_vectors_selection(tv), &e))
      fi_opt_fail(&e);
    if (ns > scap) {
      free(S);
      free(res);
      free(spread);
      S = fi_aligned(fi_mul_size(scap = ns, P, "ihvp"), sizeof(float));
      res = fi_malloc(fi_mul_size(ns, sizeof *res, "residuals"));
      spread = fi_malloc(fi_mul_size(ns, sizeof *spread, "spreads"));
    }
    fi_progress("solving %lld vectors, %lld written, %.1f s solving so far", (long long)ns, nout, tsolve);
    double t0 = fi_now();
    fi_solve_info info = {.spread = spread};
    if (cv) fi_curv_inverse(cv, lam, cws, ns, V, S);
    else if (sv->solve(&o, &so, ns, V, S, ids, &info, &se)) fi_die("%s: %s", se.msg, advice[se.status]);
    tsolve += fi_now() - t0;
    if (measured) {
      fi_progress("measuring the residuals of %lld vectors", (long long)ns);
      res_examples = fi_solve_residuals(&o, so.c.shift, resid_n, ns, V, S, res);
    }
    for (int64_t s = 0; s < ns; s++, nout++) {
      if (cv) { /* C's inverse is exact: the residual would measure rounding */
        fi_ihvp_write_curvature(w, ids[s], S + s * P, P, &cmeta);
        continue;
      }
      fi_ihvp_quality q = {.residual = -1, .spread = -1};
      if (measured) {
        if (!isfinite(res[s]))
          fi_die("record '%s': the %s-vector product of its answer is not finite (%s)", ids[s],
                 fi_oracle_name(&o), advice[FI_SOLVE_NONFINITE]);
        q = (fi_ihvp_quality){.residual = res[s], .residual_n = res_examples,
                              .spread = info.spread ? spread[s] : -1};
        sum_res += res[s];
        if (res[s] > resid_warn) nbad++;
        if (res[s] > worst) snprintf(worst_id, sizeof worst_id, "%s", ids[s]);
        worst = fmax(worst, res[s]);
        worst_spread = fmax(worst_spread, q.spread);
      }
      fi_ihvp_write_q(w, ids[s], S + s * P, P, &meta, &info, &q);
    }
  }
  fi_progress_end();
  /* An empty input is an upstream failure, not an empty answer. */
  if (fi_test_vectors_nread(tv) == 0)
    fi_die("no input records on %s (test gradients or examples)", fi_reader_name(r));
  fi_reader_close(r);
  fi_log("%lld input records, %s time %.3fs", fi_test_vectors_nread(tv), sv->solves ? "solver" : "HVP",
         tsolve);
  if (measured) {
    char sp[96] = "";
    if (worst_spread >= 0) snprintf(sp, sizeof sp, "; repeats' relative spread up to %.3g", worst_spread);
    fi_log("relative residual |(%s + shift I) s - v| / |v| (product over %lld of %lld training "
           "examples): max %.3g ('%s'), mean %.3g%s", fisher ? "F" : ggn ? "G" : "H", (long long)res_examples,
           (long long)o.N, worst, worst_id, sum_res / (double)(nout ? nout : 1), sp);
  }
  /* Method-specific: what would bring the residual down. */
  if (nbad)
    fi_log("warning: %lld of %lld records have a relative residual above %g (worst %.3g, '%s'): "
           "their scores may be off%s; %s", nbad, nout, resid_warn, worst, worst_id,
           method_i == AUTO ? " (--method auto ran lissa)" : "",
           sv->recursion ? "raise --depth, --batch or --repeats, or use --method cg or exact"
           : sv == &fi_solver_cg ? "lower --tol or raise --max-iter"
                                : "the system is near-singular: add --shift");
  fi_writer_close(w);
  fi_done(nout);
  fi_test_vectors_free(tv);
  free(S);
  free(res);
  free(spread);
  fi_exact_eig_free(so.exact.eig);
  fi_model_oracle_free(mo);
  fi_fisher_oracle_free(fo);
  fi_curv_ws_free(cws);
  fi_curv_free(cv);
  free(lam);
  free(bnames);
  if (tr) fi_examples_free(tr);
  if (m) fi_model_free(m);
  return 0;
}
