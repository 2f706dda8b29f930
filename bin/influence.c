/* influence - influence scores -g_i . s_test of training examples on test
 * points (formats/scores.md). The work is in lib/influence.c. */
#include <stdlib.h>
#include <string.h>

#include "curvature.h"
#include "example_index.h"
#include "influence.h"
#include "model.h"
#include "opts.h"
#include "score_stream.h"
#include "self_influence.h"
#include "pool.h"
#include "stream.h"
#include "strset.h"
#include "util.h"

int main(int argc, char **argv) {
  const char *train_index = NULL;
  const char *ihvp = NULL, *model = NULL, *train = NULL, *cands = NULL, *params = NULL;
  const char *curvature = NULL;
  int64_t batch;
  int threads, with_l2 = 0, self = 0, rows_i;
  double damping, shift;
  const fi_opt opts[] = {
    FI_PATH("ihvp", 0, &ihvp, NULL, "ihvp records (s_test per test point); required unless --self"),
    FI_FLAG("self", 0, &self,
            "self-influence: one scores record \"self\" with g_i^T (C + lambda)^-1 g_i of every training "
            "gradient record read, under --curvature"),
    FI_PATH("curvature", 0, &curvature, NULL, "--self: the curvature file (curvature -o)", .metavar = "CURV"),
    FI_DOUBLE("damping", 0, &damping, "0.1",
              "--self: lambda = damping x each block's mean eigenvalue (as ihvp --curvature)", .min = 0, .max = 1e300),
    FI_DOUBLE("shift", 0, &shift, NULL, "--self: an absolute lambda in place of --damping", .metavar = "X",
              .min = 0, .max = 1e300),
    FI_PATH("model", 'm', &model, NULL, "model file (fused mode; with a gradient stream, checked against it)"),
    FI_PATH("train", 0, &train, NULL, "training examples: fused mode computes their gradients"),
    FI_CHOICE("train-rows", 0, &rows_i, "file", fi_rows_choices, FI_ROWS_HELP),
    FI_STR("train-index", 0, &train_index, "auto", FI_TRAIN_INDEX_HELP, .metavar = "auto|none|SIDX"),
    FI_PATH("candidates", 0, &cands, NULL,
            "fused mode: score only each record's \"ids\" against the ihvp with the record's id"),
    FI_STR("params", 'p', &params, NULL, "selected parameters (default: the ihvp records' params)",
           .metavar = "LIST"),
    FI_FLAG("with-l2", 0, &with_l2, "fused mode: add l2*w to each training gradient"),
    FI_I64("batch", 'b', &batch, "256", "training examples per GEMM batch", .min = 1, .max = 1e7),
    FI_INT("threads", 't', &threads, "0",
           "threads (0: the cores / $FASTIF_JOBS, the jobs of a fan-out; fused mode: over batches, "
           "same scores for any count; else OpenBLAS's)", .min = 0, .max = 1024),
    {0}};
  const fi_tool tool = {
    "influence", "influence scores -grad L(z_i) . s_test (positive = harmful, negative = helpful)",
    "--ihvp IHVP [--model M --train EXAMPLES [--candidates C]] [< gradients] > scores", opts,
    "Without --train, reads gradient records (dense \"grad\", or layer factors "
    "a.NAME/delta.NAME of any rank with dense parts grad.PNAME: no model needed) and "
    "scores every one against every ihvp record, dense or factored (s_a.NAME/s_delta.NAME). "
    "With --model and --train, computes the training gradients itself, batch by "
    "batch, never holding N x P. Writes {id, ids, scores f32[n]} per test point, train ids "
    "in input (or candidate) order. See formats/scores.md."};
  fi_parse_options(&tool, argc, argv);
  if (threads == 0) threads = fi_pool_default_threads();
  /* fused over all of train: our threads over batches, one BLAS thread each
   * (no nested pools, no barrier per GEMM); else BLAS calls from this one
   * thread: its pool is the only one */
  fi_blas_threads(train && !cands ? 1 : threads);
  if (self) { /* self-influence under a fitted curvature: its own path, no ihvp records */
    if (!curvature || ihvp || model || train)
      fi_usage_error("--self needs --curvature, and no --ihvp, --model or --train");
    if (fi_opt_given("shift") && fi_opt_given("damping"))
      fi_usage_error("--shift and --damping give the same ridge two ways: give one");
    fi_curv *cv = fi_curv_load(curvature);
    const fi_curv_ridge ridge = {.damping = damping, .shift = fi_opt_given("shift") ? shift : -1};
    double *lam = fi_calloc(cv->nblocks, sizeof *lam);
    fi_curv_lambdas(cv, &ridge, lam);
    fi_reader *r = fi_reader_open("-");
    fi_writer *w = fi_writer_open("-");
    fi_err e;
    int64_t n = fi_self_influence(cv, lam, batch, r, w, &e);
    if (n < 0) fi_opt_fail(&e);
    fi_log("self-influence of %lld training records under %s's %s curvature", (long long)n,
           curvature, fi_curv_methods[cv->method]);
    fi_reader_close(r);
    fi_writer_close(w);
    fi_done(1);
    free(lam);
    fi_curv_free(cv);
    return 0;
  }
  if (!ihvp) fi_usage_error("--ihvp is required (or --self)");
  if (curvature || fi_opt_given("damping") || fi_opt_given("shift"))
    fi_usage_error("--curvature, --damping and --shift go with --self");
  if (train && !model) fi_usage_error("--train needs --model");
  if (cands && !train) fi_usage_error("--candidates needs --model and --train (fused mode)");
  if (with_l2 && !train) fi_usage_error("--with-l2 goes with fused mode (--train)");

  fi_ihvps h;
  fi_ihvps_load(&h, ihvp);
  if (!params) params = h.params ? h.params : "default";
  else if (h.params && strcmp(params, h.params))
    fi_usage_error("--params %s differs from the ihvp records' params '%s'", params, h.params);
  fi_model *m = NULL;
  fi_psel ps;
  if (model) {
    m = fi_model_load(model);
    char err[256];
    if (fi_psel_parse(m, params, &ps, err, sizeof err)) fi_usage_error("--params: %s", err);
    if (ps.size != h.P)
      fi_die("%s: ihvp vectors have %lld elements, the model's selected parameters (%s) %lld", ihvp,
             (long long)h.P, params, (long long)ps.size);
  }
  fi_writer *w = fi_writer_open("-");
  long long nout;
  if (!train) {
    fi_reader *r = fi_reader_open("-");
    nout = fi_score_gradient_stream(&h, m, &ps, batch, r, w);
    fi_reader_close(r);
  } else {
    fi_ihvps_densify(&h); /* fused mode multiplies by dense s_test */
    double t0 = fi_now();
    /* candidates in a file: keep only the training examples they name */
    fi_strset *only = NULL;
    int64_t nread;
    if (cands && fi_is_regular_file(cands)) {
      only = fi_strset_new();
      fi_strset_add_arrays(only, cands, "ids");
    }
    const fi_train_opts to = {.index = fi_train_index_path(train_index), .no_index = !strcmp(train_index, "none"),
                              .rows_in_file = rows_i == FI_ROWS_FILE, .need_label = 1};
    fi_train_how how;
    char why[512];
    fi_examples *tr = fi_examples_open_train(m, train, &to, only, &nread, &how, why, sizeof why);
    if (nread == 0) fi_die("%s: no training examples", train);
    if (how == FI_TRAIN_INDEXED) fi_log("%s: read through its stream index", train);
    if (how == FI_TRAIN_STALE || how == FI_TRAIN_MODEL)
      fi_log("%s: its stream index is not used (%s): the stream was read whole", train, why);
    double tread = fi_now() - t0;
    if (!cands) {
      fi_fused_times ft;
      nout = fi_score_training_set(&h, m, &ps, tr, batch, with_l2, threads, &ft, w);
      fi_log("times: read %.3f s, scoring %.3f s on %d threads (forward/backward %.3f, score GEMMs "
             "%.3f thread-s), writing %.3f s", tread, ft.wall, ft.threads, ft.pass, ft.scores, ft.write);
    } else {
      fi_reader *cr = fi_reader_open(cands);
      nout = fi_score_candidates(&h, m, &ps, tr, train, cr, batch, with_l2, w);
      fi_reader_close(cr);
      if (only) fi_log("times: read %.3f s (kept the %lld of %lld training examples the candidates name)",
                       tread, (long long)fi_examples_count(tr), (long long)nread);
      fi_strset_free(only);
    }
    fi_examples_free(tr);
  }
  fi_writer_close(w);
  fi_done(nout);
  fi_ihvps_free(&h);
  if (m) fi_model_free(m);
  return 0;
}
