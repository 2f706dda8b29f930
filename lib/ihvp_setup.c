/* ihvp_setup.c - an ihvp run's setup (ihvp_run.h): the source of C and
 * the solver chosen and loaded, the scale probed, the shift set; its
 * teardown. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ihvp_internal.h"

static fi_ihvp_run *fail(fi_ihvp_run *run, fi_ihvp_error *er, fi_ihvp_fail kind) {
  er->kind = kind;
  fi_ihvp_free(run);
  return NULL;
}

/* The model oracle over the training set, or the Fisher oracle of the
 * training gradients; neither for a curvature file or identity. */
static void load_oracle(fi_ihvp_run *run) {
  const fi_ihvp_settings *st = run->st;
  if (run->model_oracle) {
    const fi_train_opts to = {.index = st->train_index, .no_index = st->train_no_index,
                              .rows_in_file = st->train_rows_file, .need_label = 1};
    run->tr = fi_examples_open_train(run->m, st->train, &to, NULL, NULL, &run->tr_how, run->tr_why,
                                     sizeof run->tr_why);
    fi_examples_cache_bags(run->tr, run->m); /* the model is fixed here: sum each bag once */
    if (fi_examples_count(run->tr) == 0) fi_die("%s: no training examples", st->train);
    /* a chunk never needs to exceed the training set */
    const int64_t ntrain = fi_examples_count(run->tr);
    run->mo = fi_model_oracle_new(run->m, &run->ps, run->tr, run->ggn ? FI_CURV_GGN : FI_CURV_HESSIAN,
                                  st->threads, st->chunk < ntrain ? st->chunk : ntrain, &run->o);
  } else if (st->fisher) {
    run->fo = fi_fisher_oracle_new(st->fisher, st->threads, st->chunk, &run->o);
  }
}

/* Where the training rows come from; when LiSSA, which uses few of them,
 * had to read a large stream whole, what would spare it. */
static void log_train_source(const fi_ihvp_run *run) {
  const char *train = run->st->train;
  if (run->tr_how == FI_TRAIN_INDEXED) {
    fi_log("%s: read through its stream index: only the rows used are read", train);
    return;
  }
  if (run->tr_how == FI_TRAIN_STALE || run->tr_how == FI_TRAIN_MODEL)
    fi_log("%s: its stream index is not used (%s): the stream was read whole", train, run->tr_why);
  struct stat st;
  if (run->tr_how != FI_TRAIN_MODEL && run->sv == &fi_solver_lissa && stat(train, &st) == 0 &&
      S_ISREG(st.st_mode) && st.st_size >= ((off_t)64 << 20))
    fi_log("%s: read whole (%.0f MB) for LiSSA's few rows; `stream-index %s` once makes it read only those",
           train, st.st_size / 1e6, train);
}

/* The method: the one named, the curvature file's own inverse, or auto's
 * choice; logged with what it runs on. */
static void choose_solver(fi_ihvp_run *run) {
  const fi_ihvp_settings *st = run->st;
  const fi_oracle *o = &run->o;
  double est = 0;
  run->sv = st->solver ? st->solver
            : st->curvature ? &fi_solver_identity /* its own inverse, in the loop */
            : fi_solver_auto(o->N, o->P, st->so.exact.max_p, st->auto_seconds, &est);
  if (run->model_oracle)
    fi_log("%s: %lld training examples, %lld parameters (%s), method %s%s", st->train,
           (long long)o->N, (long long)o->P, st->params, run->sv->name,
           run->ggn ? ", Gauss-Newton curvature" : "");
  if (run->model_oracle) log_train_source(run);
  else if (st->fisher)
    fi_log("%s: empirical Fisher of %lld training gradients, %lld parameters, method %s", st->fisher,
           (long long)o->N, (long long)o->P, run->sv->name);
  if (!st->solver && !st->curvature)
    fi_log("method auto: %s (exact would take about %.2g s%s%s, the limit is %s %g)%s", run->sv->name,
           est, o->P > st->so.exact.max_p ? " and P is above " : "",
           o->P > st->so.exact.max_p ? st->names.max_exact : "", st->names.auto_seconds,
           st->auto_seconds, run->sv == &fi_solver_lissa ? "; its answers are checked by their residual" : "");
}

/* The curvature file, its lambda per block (relative to each block's mean
 * eigenvalue, Kronfluence's 0.1, or absolute) and block names. */
static void load_curvature(fi_ihvp_run *run) {
  const fi_ihvp_settings *st = run->st;
  const int absolute = st->so.c.absolute;
  fi_curv *cv = run->cv = fi_curv_load(st->curvature);
  run->cws = fi_curv_ws_new(cv);
  const fi_curv_ridge ridge = {.damping = st->curv_damping, .shift = absolute ? st->so.c.shift : -1,
                               .kfac = st->factored_s};
  run->lam = fi_calloc(cv->nblocks, sizeof *run->lam);
  run->bnames = fi_calloc(cv->nblocks, sizeof *run->bnames);
  fi_curv_lambdas(cv, &ridge, run->lam);
  for (int b = 0; b < cv->nblocks; b++) run->bnames[b] = cv->b[b].name;
  fi_log("%s: %s curvature of %lld records, %d blocks, P = %lld; lambda %s%s", st->curvature,
         fi_curv_methods[cv->method], (long long)cv->n, cv->nblocks, (long long)cv->P,
         absolute ? "= " : "= damping x each block's mean eigenvalue", absolute ? st->names.shift : "");
  run->cmeta = (fi_ihvp_curv_meta){.kind = fi_curv_methods[cv->method], .absolute = absolute,
                                   .damping = ridge.damping, .shift = st->so.c.shift,
                                   .nblocks = cv->nblocks, .blocks = run->bnames, .lam = run->lam,
                                   .params = st->params, .label = st->label};
}

fi_ihvp_fail fi_ihvp_set_ridge(fi_ihvp_run *run, fi_ihvp_error *er) {
  const fi_ihvp_settings *st = run->st;
  const fi_solver *sv = run->sv;
  const int oracle = run->model_oracle || st->fisher;
  run->ridge_pending = 0;
  if (fi_solve_auto_ridge(sv, oracle ? &run->o : NULL, &run->so, &er->se)) return FI_IHVP_ERR_RIDGE;
  if (fi_solve_set_shift(sv, &run->so.c, &er->e)) return FI_IHVP_ERR_SETTING;
  if (sv->prepare && oracle && sv->prepare(&run->o, &run->so, &er->se)) return FI_IHVP_ERR_SOLVE;
  const fi_solve_common *c = &run->so.c;
  /* how the ridge was set: given as a shift, automatic, or damping x scale */
  char given[64] = "";
  if (st->so.c.absolute) snprintf(given, sizeof given, " (%s given)", st->names.shift);
  else if (c->auto_ridge) snprintf(given, sizeof given, " (%s auto)", st->names.damping);
  if (sv->solves && c->scale > 0 && !c->absolute)
    fi_log("shift %.6g = damping %.6g x scale %.6g%s", c->shift, c->damping, c->scale, given);
  else if (sv->solves)
    fi_log("shift %.6g%s", c->shift, given);
  return FI_IHVP_OK;
}

fi_ihvp_run *fi_ihvp_setup(const fi_ihvp_settings *st, fi_ihvp_error *er) {
  memset(er, 0, sizeof *er);
  fi_ihvp_run *run = fi_calloc(1, sizeof *run);
  run->st = st;
  run->worst = run->worst_spread = -1;
  /* The model's Hessian needs the model and its training set; identity needs
   * neither; a curvature file and training gradients bring their own. */
  const int no_oracle = st->solver && st->solver->no_oracle;
  run->model_oracle = !no_oracle && !st->curvature && !st->fisher;
  if (st->factored_s && (!st->curvature || st->mean_id || st->model))
    return fail(run, er, FI_IHVP_ERR_FACTORED);
  /* The solvers' parallelism is ours (threads over repeats/vectors); nested
   * BLAS threads would only oversubscribe the cores. The product, identity
   * and a curvature file's GEMMs run on this thread and keep BLAS's. */
  if (st->threads > 1 && st->solver != &fi_solver_hvp && !no_oracle && !st->curvature) fi_blas_threads(1);

  /* Without a model file the input must be gradient records; P is theirs. */
  run->m = st->model ? fi_model_load(st->model) : NULL;
  char err[256];
  if (run->m && fi_psel_parse(run->m, st->params, &run->ps, err, sizeof err)) {
    fi_err_set(&er->e, FI_ERR_USAGE, "params", "%s", err);
    return fail(run, er, FI_IHVP_ERR_SETTING);
  }
  run->ggn = st->hessian == FI_IHVP_HESSIAN_GGN ||
             (run->m && st->hessian == FI_IHVP_HESSIAN_AUTO &&
              fi_model_default_curvature(run->m) == FI_CURV_GGN);
  run->o = (fi_oracle){.P = run->m ? run->ps.size : -1, .nthreads = 1, .name = "identity"};
  load_oracle(run);
  choose_solver(run);
  const fi_solver *sv = run->sv;
  const int oracle = run->model_oracle || st->fisher;
  /* Only LiSSA's recursion needs the scale once the shift is given or automatic. */
  const int need_scale = oracle && fi_solve_needs_scale(sv, &st->so.c);
  /* Every solve over an oracle is checked by one product with it. */
  run->measured = oracle && sv->solves;
  double scale = st->scale_auto ? 0 : st->so.c.scale;
  if (st->scale_auto && need_scale &&
      fi_auto_scale(&run->o, st->so.lissa.batch, st->scale_batches, st->scale_iters, FI_SCALE_PROBE_SEED,
                    &scale, &er->se))
    return fail(run, er, FI_IHVP_ERR_SCALE);
  run->so = st->so;
  run->so.c.scale = need_scale ? scale : 0;
  if (st->curvature) {
    load_curvature(run);
    if (st->factored_s && run->cv->method == FI_CURV_DIAG) return fail(run, er, FI_IHVP_ERR_FACTORED);
  } else if (((run->so.c.auto_ridge && sv->ridge) || sv->prepare) && oracle && !sv->no_oracle) {
    run->ridge_pending = 1; /* its probe or preparation (exact: C's eigendecomposition) waits for the first vectors */
  } else {
    const fi_ihvp_fail kind = fi_ihvp_set_ridge(run, er);
    if (kind) return fail(run, er, kind);
  }
  run->meta = (fi_ihvp_meta){.solver = sv, .opt = &run->so, .params = st->params, .label = st->label,
                             .hessian = run->model_oracle ? (run->ggn ? "ggn" : "full")
                                        : st->fisher ? "fisher" : NULL};
  return run;
}

void fi_ihvp_free(fi_ihvp_run *run) {
  if (!run) return;
  if (run->tv) fi_test_vectors_free(run->tv);
  free(run->S);
  free(run->res);
  free(run->spread);
  fi_exact_eig_free(run->so.exact.eig);
  fi_model_oracle_free(run->mo);
  fi_fisher_oracle_free(run->fo);
  fi_curv_ws_free(run->cws);
  fi_curv_free(run->cv);
  free(run->lam);
  free(run->bnames);
  if (run->tr) fi_examples_free(run->tr);
  if (run->m) fi_model_free(run->m);
  free(run);
}
