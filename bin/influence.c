/* influence - influence scores -g_i . s_test of training examples on test
 * points (formats/scores.md). The work is in lib/influence.c. */
#include <string.h>

#include "influence.h"
#include "model.h"
#include "opts.h"
#include "pool.h"
#include "stream.h"
#include "strset.h"
#include "util.h"

int main(int argc, char **argv) {
  const char *ihvp = NULL, *model = NULL, *train = NULL, *cands = NULL, *params = NULL;
  int64_t batch;
  int threads, with_l2 = 0, rows_i;
  const fi_opt opts[] = {
    FI_PATH("ihvp", 0, &ihvp, NULL, "ihvp records (s_test per test point)", .required = 1),
    FI_PATH("model", 'm', &model, NULL, "model file (fused mode, or factored gradients)"),
    FI_PATH("train", 0, &train, NULL, "training examples: fused mode computes their gradients"),
    FI_CHOICE("train-rows", 0, &rows_i, "file", fi_rows_choices, FI_ROWS_HELP),
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
    "Without --train, reads gradient records (dense \"grad\", or the factored a.*/delta.* "
    "of grad --factored, which need --model) and scores every one against every ihvp "
    "record. With --model and --train, computes the training gradients itself, batch by "
    "batch, never holding N x P. Writes {id, ids, scores f32[n]} per test point, train ids "
    "in input (or candidate) order. See formats/scores.md."};
  fi_parse_options(&tool, argc, argv);
  if (threads == 0) threads = fi_pool_default_threads();
  /* fused over all of train: our threads over batches, one BLAS thread each
   * (no nested pools, no barrier per GEMM); else BLAS calls from this one
   * thread: its pool is the only one */
  fi_blas_threads(train && !cands ? 1 : threads);
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
    double t0 = fi_now();
    /* candidates in a file: keep only the training examples they name */
    fi_strset *only = NULL;
    int64_t nread;
    if (cands && fi_is_regular_file(cands)) {
      only = fi_strset_new();
      fi_strset_add_arrays(only, cands, "ids");
    }
    fi_examples *tr = fi_examples_load_only(m, train, 1, rows_i == FI_ROWS_FILE, only, &nread);
    if (nread == 0) fi_die("%s: no training examples", train);
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
