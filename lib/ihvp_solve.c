/* ihvp_solve.c - an ihvp run's loop (ihvp_run.h): the test vectors solved
 * group by group and written, each answer's residual measured and
 * tallied; the quality report at the end. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ihvp_internal.h"

/* s in factored form: a pass of its own over the factor records. */
static long long factored_stream(fi_ihvp_run *run, fi_reader *r, fi_writer *w, fi_ihvp_error *er) {
  run->cmeta.kind = "kfac"; /* Tikhonov K-FAC uses A and G, not ekfac's eigenvalues */
  int64_t n = fi_curv_factored_s(run->cv, run->lam, r, w, &run->cmeta, &er->e);
  if (n < 0) {
    er->kind = FI_IHVP_ERR_SETTING;
    return -1;
  }
  if (n == 0) fi_die("no input records on %s (test gradients)", fi_reader_name(r));
  return n;
}

/* Buffers for a group of ns vectors of length P: sized by the groups read,
 * not by the group setting. */
static void reserve(fi_ihvp_run *run, int64_t ns, int64_t P) {
  if (ns <= run->scap) return;
  free(run->S);
  free(run->res);
  free(run->spread);
  run->S = fi_aligned(fi_mul_size(run->scap = ns, P, "ihvp"), sizeof(float));
  run->res = fi_malloc(fi_mul_size(ns, sizeof *run->res, "residuals"));
  run->spread = fi_malloc(fi_mul_size(ns, sizeof *run->spread, "spreads"));
}

/* Before the first group: what P and the params are without a model, and
 * whether the vectors fit the Fisher's or the curvature's parameters. */
static int check_first(fi_ihvp_run *run, fi_ihvp_error *er) {
  fi_test_vectors *tv = run->tv;
  if (run->o.P < 0 || run->fo) { /* no model: the gradient records say what they are over */
    run->o.P = fi_test_vectors_P(tv);
    if (run->fo && fi_fisher_oracle_check(run->fo, run->o.P, fi_test_vectors_params(tv), &er->e)) return -1;
    if (fi_test_vectors_params(tv)) run->meta.params = run->cmeta.params = fi_test_vectors_params(tv);
  }
  if (run->cv &&
      fi_curv_check_layout(run->cv, fi_test_vectors_layout(tv), run->o.P, fi_test_vectors_selection(tv), &er->e))
    return -1;
  return 0;
}

/* The records of one solved group, the residuals tallied. */
static int write_group(fi_ihvp_run *run, fi_writer *w, int64_t ns, const char *const *ids,
                       const fi_solve_info *info, fi_ihvp_error *er) {
  const int64_t P = run->o.P;
  for (int64_t s = 0; s < ns; s++, run->nout++) {
    if (run->cv) { /* C's inverse is exact: the residual would measure rounding */
      fi_ihvp_write_curvature(w, ids[s], run->S + s * P, P, &run->cmeta);
      continue;
    }
    fi_ihvp_quality q = {.residual = -1, .spread = -1};
    if (run->measured) {
      const double res = run->res[s];
      if (!isfinite(res)) {
        fi_solve_fail(&er->se, FI_SOLVE_NONFINITE, "record '%s': the %s-vector product of its answer is not finite",
                      ids[s], fi_oracle_name(&run->o));
        er->kind = FI_IHVP_ERR_RESIDUAL;
        return -1;
      }
      q = (fi_ihvp_quality){.residual = res, .residual_n = run->res_examples,
                            .spread = info->spread ? run->spread[s] : -1};
      run->sum_res += res;
      if (res > run->st->residual_warn) run->nbad++;
      if (res > run->worst) snprintf(run->worst_id, sizeof run->worst_id, "%s", ids[s]);
      run->worst = fmax(run->worst, res);
      run->worst_spread = fmax(run->worst_spread, q.spread);
    }
    fi_ihvp_write_q(w, ids[s], run->S + s * P, P, &run->meta, info, &q);
  }
  return 0;
}

long long fi_ihvp_solve_stream(fi_ihvp_run *run, fi_reader *r, fi_writer *w, fi_ihvp_error *er) {
  const fi_ihvp_settings *st = run->st;
  memset(er, 0, sizeof *er);
  er->ridge = run->so.c;
  snprintf(er->oracle, sizeof er->oracle, "%s", fi_oracle_name(&run->o));
  if (st->factored_s) return factored_stream(run, r, w, er);
  run->tv = fi_test_vectors_new(run->m, run->m ? &run->ps : NULL, r, st->mean_id ? 1 : st->group,
                                st->from_examples, st->pred_label, st->names.label, st->names.params,
                                st->chunk, st->mean_id);
  if (run->cv) fi_test_vectors_keep_factors(run->tv); /* the inverse rotates factor rows, never densified */
  const float *V;
  const char *const *ids;
  for (int64_t ns; (ns = fi_test_vectors_next(run->tv, &V, &ids)) > 0;) {
    if (run->nout == 0 && check_first(run, er)) {
      er->kind = FI_IHVP_ERR_SETTING;
      return -1;
    }
    if (run->ridge_pending) {
      if ((er->kind = fi_ihvp_set_ridge(run, er))) return -1;
      er->ridge = run->so.c;
    }
    reserve(run, ns, run->o.P);
    fi_progress("solving %lld vectors, %lld written, %.1f s solving so far", (long long)ns, run->nout,
                run->tsolve);
    double t0 = fi_now();
    fi_solve_info info = {.spread = run->spread};
    if (run->cv) fi_curv_inverse_group(run->cv, run->lam, run->cws, ns, V, fi_test_vectors_factors(run->tv), run->S);
    else if (run->sv->solve(&run->o, &run->so, ns, V, run->S, ids, &info, &er->se)) {
      er->kind = FI_IHVP_ERR_SOLVE;
      return -1;
    }
    run->tsolve += fi_now() - t0;
    if (run->measured) {
      fi_progress("measuring the residuals of %lld vectors", (long long)ns);
      run->res_examples = fi_solve_residuals(&run->o, run->so.c.shift, st->residual_n, ns, V, run->S, run->res);
    }
    if (write_group(run, w, ns, ids, &info, er)) return -1;
  }
  fi_progress_end();
  /* An empty input is an upstream failure, not an empty answer. */
  if (fi_test_vectors_nread(run->tv) == 0)
    fi_die("no input records on %s (test gradients or examples)", fi_reader_name(r));
  return run->nout;
}

void fi_ihvp_report(const fi_ihvp_run *run, fi_ihvp_summary *q) {
  *q = (fi_ihvp_summary){.n = run->nout, .nbad = run->nbad, .worst = run->worst,
                         .worst_id = run->worst_id, .solver = run->sv};
  if (run->st->factored_s) return;
  fi_log("%lld input records, %s time %.3fs", fi_test_vectors_nread(run->tv),
         run->sv->solves ? "solver" : "HVP", run->tsolve);
  if (!run->measured) return;
  char sp[96] = "";
  if (run->worst_spread >= 0)
    snprintf(sp, sizeof sp, "; repeats' relative spread up to %.3g", run->worst_spread);
  fi_log("relative residual |(%s + shift I) s - v| / |v| (product over %lld of %lld training "
         "examples): max %.3g ('%s'), mean %.3g%s", run->st->fisher ? "F" : run->ggn ? "G" : "H",
         (long long)run->res_examples, (long long)run->o.N, run->worst, run->worst_id,
         run->sum_res / (double)(run->nout ? run->nout : 1), sp);
}
