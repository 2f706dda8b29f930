/* train.c - optimisers for fi_model (see train.h). Parameters are handled
 * as one flat vector over the "all" selection: fi_params_get, update,
 * fi_params_set; the gradients come from fi_grad_mean, which batches the
 * examples into GEMMs. */
#include "train.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "gemm.h"
#include "util.h"

/* Examples per fi_grad_mean/fi_forward call in full-batch passes: large
 * enough for efficient GEMMs, small enough to bound workspace memory. */
#define FI_CHUNK 2048

const char *const fi_optim_names[] = {"auto", "sgd", "adam", "lbfgs", NULL};

void fi_train_resolve(fi_train_opts *o, const char *model_type) {
  if (o->optim == FI_OPTIM_AUTO) o->optim = strcmp(model_type, "linear") == 0 ? FI_OPTIM_LBFGS : FI_OPTIM_ADAM;
  if (o->lr == 0) o->lr = o->optim == FI_OPTIM_SGD ? 0.05 : 1e-3;
}

static fi_psel psel_all(const fi_model *m) {
  fi_psel ps;
  char err[256];
  if (fi_psel_parse(m, "all", &ps, err, sizeof err) != 0) fi_die("%s", err);
  return ps;
}

/* Mask over the selected vector: 1 where L2 / weight decay applies. */
static unsigned char *weight_mask(const fi_model *m, const fi_psel *ps) {
  unsigned char *mask = fi_calloc((size_t)ps->size, 1);
  for (int k = 0; k < ps->n; k++)
    if (fi_model_param_is_weight(m, ps->idx[k]))
      memset(mask + ps->off[k], 1, (size_t)fi_model_param_numel(m, ps->idx[k]));
  return mask;
}

static double l2_term(const fi_model *m, const fi_psel *ps, const float *theta) {
  double l2 = fi_model_l2(m), s = 0;
  if (l2 == 0) return 0;
  for (int k = 0; k < ps->n; k++) {
    if (!fi_model_param_is_weight(m, ps->idx[k])) continue;
    const float *w = theta + ps->off[k];
    int64_t n = fi_model_param_numel(m, ps->idx[k]);
    for (int64_t j = 0; j < n; j++) s += (double)w[j] * w[j];
  }
  return 0.5 * l2 * s;
}

double fi_objective(const fi_model *m, fi_ws *ws, const fi_psel *ps,
                    const fi_examples *ex, float *g) {
  int64_t n = fi_examples_count(ex);
  if (n <= 0) fi_die("no training examples");
  float *gc = g ? fi_aligned((size_t)ps->size, sizeof(float)) : NULL;
  double *acc = g ? fi_calloc((size_t)ps->size, sizeof(double)) : NULL;
  int64_t *idx = fi_malloc(sizeof(int64_t) * FI_CHUNK);
  double loss = 0;
  for (int64_t s = 0; s < n; s += FI_CHUNK) {
    int64_t nb = n - s < FI_CHUNK ? n - s : FI_CHUNK;
    for (int64_t i = 0; i < nb; i++) idx[i] = s + i;
    double w = (double)nb / (double)n;
    if (g) {
      /* with_l2 = 0: the l2 gradient is added once below, exactly. */
      loss += w * fi_grad_mean(m, ws, ps, ex, idx, nb, 0, gc);
      for (int64_t j = 0; j < ps->size; j++) acc[j] += w * gc[j];
    } else {
      loss += w * fi_forward(m, ws, ex, idx, nb, NULL, NULL);
    }
  }
  float *theta = fi_malloc(sizeof(float) * (size_t)ps->size);
  fi_params_get(m, ps, theta);
  double obj = loss + l2_term(m, ps, theta);
  if (g) {
    double l2 = fi_model_l2(m);
    unsigned char *mask = weight_mask(m, ps);
    for (int64_t j = 0; j < ps->size; j++)
      g[j] = (float)(acc[j] + (mask[j] ? l2 * theta[j] : 0.0));
    free(mask);
  }
  free(theta);
  free(gc);
  free(acc);
  free(idx);
  return obj;
}

void fi_probs_check(const float *p, int C, const char *id) {
  double sum = 0;
  int ok = 1;
  for (int c = 0; c < C; c++) {
    ok &= p[c] >= 0 && p[c] <= 1; /* false for NaN */
    sum += p[c];
  }
  if (!ok || !(fabs(sum - 1) <= 1e-3))
    fi_die("record '%s': the model's class probabilities are not finite or do not sum to 1 "
           "(the inputs or the model's weights overflow float arithmetic)", id);
}

void fi_evaluate(const fi_model *m, fi_ws *ws, const fi_examples *ex,
                 double *loss, double *accuracy) {
  int64_t n = fi_examples_count(ex);
  int C = fi_model_nclasses(m);
  float *probs = fi_aligned((size_t)FI_CHUNK * (size_t)C, sizeof(float));
  int64_t *idx = fi_malloc(sizeof(int64_t) * FI_CHUNK);
  double l = 0;
  int64_t correct = 0;
  for (int64_t s = 0; s < n; s += FI_CHUNK) {
    int64_t nb = n - s < FI_CHUNK ? n - s : FI_CHUNK;
    for (int64_t i = 0; i < nb; i++) idx[i] = s + i;
    l += (double)nb * fi_forward(m, ws, ex, idx, nb, probs, NULL);
    for (int64_t i = 0; i < nb; i++) {
      const float *p = probs + i * C;
      fi_probs_check(p, C, fi_examples_id(ex, s + i));
      int best = 0;
      for (int c = 1; c < C; c++) if (p[c] > p[best]) best = c;
      correct += best == fi_examples_label(ex, s + i);
    }
  }
  *loss = n ? l / (double)n : 0;
  *accuracy = n ? (double)correct / (double)n : 0;
  free(probs);
  free(idx);
}

static int all_finite(const float *v, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}

/* A loss or gradient over examples idx[0..nb) (NULL: 0..nb-1) came out
 * non-finite: die naming the first example whose own loss or gradient is
 * not finite (or the batch, when each is finite alone). `when` says at
 * which point of training, `fix` what to try. */
static _Noreturn void die_nonfinite(const fi_model *m, fi_ws *ws, const fi_psel *ps,
                                    const fi_examples *ex, const int64_t *idx, int64_t nb,
                                    const char *when, const char *fix) {
  float *g = fi_aligned((size_t)ps->size, sizeof(float));
  for (int64_t i = 0; i < nb; i++) {
    int64_t j = idx ? idx[i] : i;
    double loss = fi_grad_mean(m, ws, ps, ex, &j, 1, 0, g);
    if (!isfinite(loss) || !all_finite(g, ps->size))
      fi_die("record '%s': its loss or gradient is not finite %s (loss %g): %s",
             fi_examples_id(ex, j), when, loss, fix);
  }
  fi_die("the loss or gradient of a batch of %lld examples is not finite %s, though each "
         "example's is: %s", (long long)nb, when, fix);
}

/* ---- mini-batch SGD with momentum / Adam ----
 * The updates touch every parameter every step (for bow that is the whole
 * embedding table), so they are float loops the compiler can vectorise;
 * no-math-errno lets sqrtf become one instruction. */
/* Both return 0, or NaN when a gradient or updated parameter is not finite
 * (the sum of 0*x over them: free inside the loop, no second pass). */
__attribute__((optimize("no-math-errno")))
static float adam_update(float *restrict theta, const float *restrict g, float *restrict m1,
                         float *restrict m2, int64_t P, float lr_t) {
  const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
  float probe = 0;
  for (int64_t j = 0; j < P; j++) {
    m1[j] = b1 * m1[j] + (1 - b1) * g[j];
    m2[j] = b2 * m2[j] + (1 - b2) * g[j] * g[j];
    theta[j] -= lr_t * m1[j] / (sqrtf(m2[j]) + eps);
    probe += 0.0f * g[j] + 0.0f * theta[j];
  }
  return probe;
}

static float sgd_update(float *restrict theta, const float *restrict g, float *restrict v,
                        int64_t P, float lr, float mu) {
  float probe = 0;
  for (int64_t j = 0; j < P; j++) {
    v[j] = mu * v[j] + g[j];
    theta[j] -= lr * v[j];
    probe += 0.0f * g[j] + 0.0f * theta[j];
  }
  return probe;
}

static void train_minibatch(fi_model *m, const fi_examples *ex,
                            const fi_train_opts *o, fi_train_result *res) {
  int64_t n = fi_examples_count(ex);
  fi_psel ps = psel_all(m);
  int64_t P = ps.size, B = o->batch < 1 ? 1 : o->batch;
  if (B > n) B = n;
  fi_ws *ws = fi_ws_new(m);
  float *theta = fi_malloc(sizeof(float) * (size_t)P);
  float *g = fi_aligned((size_t)P, sizeof(float));
  /* Adam keeps two moments; SGD uses mom1 as the velocity. */
  float *mom1 = fi_calloc((size_t)P, sizeof(float));
  float *mom2 = o->optim == FI_OPTIM_ADAM ? fi_calloc((size_t)P, sizeof(float)) : NULL;
  int64_t *perm = fi_malloc(sizeof(int64_t) * (size_t)n);
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  fi_rng rng;
  fi_rng_seed(&rng, o->seed);
  fi_params_get(m, &ps, theta);
  const double b1 = 0.9, b2 = 0.999; /* as in adam_update */
  double b1t = 1, b2t = 1;
  int64_t steps = 0, nbatches = (n + B - 1) / B;
  double t0 = fi_now();
  fi_progress_count("batches", o->epochs * nbatches);
  for (int64_t ep = 0; ep < o->epochs; ep++) {
    fi_progress("epoch %lld/%lld", (long long)ep + 1, (long long)o->epochs);
    fi_rng_shuffle(&rng, perm, n);
    double run_loss = 0;
    for (int64_t b = 0; b < nbatches; b++) {
      int64_t s = b * B, nb = n - s < B ? n - s : B;
      double bl = fi_grad_mean(m, ws, &ps, ex, perm + s, nb, 1, g);
      float probe;
      if (o->optim == FI_OPTIM_ADAM) {
        b1t *= b1;
        b2t *= b2;
        probe = adam_update(theta, g, mom1, mom2, P, (float)(o->lr * sqrt(1 - b2t) / (1 - b1t)));
      } else {
        probe = sgd_update(theta, g, mom1, P, (float)o->lr, (float)o->momentum);
      }
      if (!isfinite(bl) || (probe != 0 && !all_finite(g, P))) { /* the model still has g's parameters */
        char when[64];
        snprintf(when, sizeof when, "in epoch %lld", (long long)ep + 1);
        die_nonfinite(m, ws, &ps, ex, perm + s, nb, when,
                      steps ? "training diverged; lower --lr" : "its inputs overflow float "
                      "arithmetic; rescale the features");
      }
      if (probe != 0)
        fi_die("training diverged in epoch %lld (non-finite parameters); lower --lr",
               (long long)ep + 1);
      run_loss += (double)nb * bl;
      steps++;
      fi_params_set(m, &ps, theta);
      fi_progress_add(1);
    }
    fi_evaluate(m, ws, ex, &res->loss, &res->accuracy);
    if (!isfinite(res->loss))
      fi_die("training diverged in epoch %lld (loss %g); lower --lr", (long long)ep + 1, res->loss);
    fi_log("epoch %lld/%lld: batch loss %.6f, train loss %.6f, train accuracy %.4f (%.1fs)",
           (long long)ep + 1, (long long)o->epochs, run_loss / (double)n, res->loss,
           res->accuracy, fi_now() - t0);
  }
  fi_progress_end();
  if (o->epochs <= 0) fi_evaluate(m, ws, ex, &res->loss, &res->accuracy);
  res->objective = res->loss + l2_term(m, &ps, theta);
  res->iters = steps;
  free(theta);
  free(g);
  free(mom1);
  free(mom2);
  free(perm);
  fi_ws_free(ws);
}

/* ---- full-batch L-BFGS ----
 * Iterates in double, evaluates in float (the model's precision). The line
 * search is backtracking Armijo with an allowance for the float rounding of
 * the objective, so the method keeps making progress on the gradient norm
 * after objective differences have sunk below float resolution. */
static void train_lbfgs(fi_model *m, const fi_examples *ex,
                        const fi_train_opts *o, fi_train_result *res) {
  fi_psel ps = psel_all(m);
  int64_t P = ps.size;
  int M = o->history < 1 ? 1 : o->history;
  fi_ws *ws = fi_ws_new(m);
  float *thf = fi_malloc(sizeof(float) * (size_t)P);
  float *gf = fi_aligned((size_t)P, sizeof(float));
  double *x = fi_malloc(sizeof(double) * (size_t)P), *gx = fi_malloc(sizeof(double) * (size_t)P);
  double *xn = fi_malloc(sizeof(double) * (size_t)P);
  double *d = fi_malloc(sizeof(double) * (size_t)P);
  double *S = fi_malloc(fi_mul_size((size_t)M * (size_t)P, sizeof(double), "lbfgs history"));
  double *Y = fi_malloc(fi_mul_size((size_t)M * (size_t)P, sizeof(double), "lbfgs history"));
  double *rho = fi_malloc(sizeof(double) * (size_t)M), *alpha = fi_malloc(sizeof(double) * (size_t)M);
  int nhist = 0, head = 0; /* ring buffer of (s, y) pairs; head = next slot */

  fi_params_get(m, &ps, thf);
  for (int64_t j = 0; j < P; j++) x[j] = thf[j];
  double f = fi_objective(m, ws, &ps, ex, gf);
  if (!isfinite(f) || !all_finite(gf, P))
    die_nonfinite(m, ws, &ps, ex, NULL, fi_examples_count(ex), "under the initial model",
                  "its inputs overflow float arithmetic; rescale the features");
  for (int64_t j = 0; j < P; j++) gx[j] = gf[j];
  double gnorm = fi_norm2(gf, P), g0 = gnorm;
  double target = o->tol * (g0 > 1 ? g0 : 1);
  res->grad_norm0 = g0;
  int64_t it = 0, evals = 1;
  int converged = gnorm <= target, stalled = 0;
  double t0 = fi_now();
  fi_log("lbfgs: start objective %.9g, |grad| %.3e, target |grad| <= %.3e", f, g0, target);
  fi_progress_count("iterations", 0); /* max_iter bounds it, but convergence usually ends it first */
  while (!converged && it < o->max_iter) {
    /* Two-loop recursion: d = -H_k g. */
    for (int64_t j = 0; j < P; j++) d[j] = -gx[j];
    for (int k = 0; k < nhist; k++) {
      int s = (head - 1 - k + M) % M;
      double a = 0;
      for (int64_t j = 0; j < P; j++) a += S[(size_t)s * P + j] * d[j];
      a *= rho[s];
      alpha[s] = a;
      for (int64_t j = 0; j < P; j++) d[j] -= a * Y[(size_t)s * P + j];
    }
    if (nhist > 0) {
      int s = (head - 1 + M) % M;
      double yy = 0;
      for (int64_t j = 0; j < P; j++) yy += Y[(size_t)s * P + j] * Y[(size_t)s * P + j];
      double gamma = 1.0 / (rho[s] * yy);
      for (int64_t j = 0; j < P; j++) d[j] *= gamma;
    }
    for (int k = nhist - 1; k >= 0; k--) {
      int s = (head - 1 - k + M) % M;
      double b = 0;
      for (int64_t j = 0; j < P; j++) b += Y[(size_t)s * P + j] * d[j];
      b *= rho[s];
      for (int64_t j = 0; j < P; j++) d[j] += (alpha[s] - b) * S[(size_t)s * P + j];
    }
    double gd = 0;
    for (int64_t j = 0; j < P; j++) gd += gx[j] * d[j];
    if (!(gd < 0)) { /* not a descent direction: restart from steepest descent */
      nhist = 0;
      for (int64_t j = 0; j < P; j++) d[j] = -gx[j];
      gd = -gnorm * gnorm;
    }
    double t = nhist == 0 ? fmin(1.0, 1.0 / gnorm) : 1.0;
    /* Rounding noise of a float objective of this size. */
    double noise = 8 * 1.2e-7 * (fabs(f) + 1e-30);
    double fn = f, gnn = 0;
    int accepted = 0;
    for (int ls = 0; ls < 40; ls++) {
      for (int64_t j = 0; j < P; j++) {
        xn[j] = x[j] + t * d[j];
        thf[j] = (float)xn[j];
      }
      fi_params_set(m, &ps, thf);
      fn = fi_objective(m, ws, &ps, ex, gf);
      evals++;
      gnn = fi_norm2(gf, P);
      if (isfinite(fn) && (fn <= f + 1e-4 * t * gd ||
                           (fn <= f + noise && gnn < gnorm))) {
        accepted = 1;
        break;
      }
      t *= 0.5;
    }
    it++;
    if (!accepted) {
      /* No float-representable progress along d: we are at float precision. */
      for (int64_t j = 0; j < P; j++) thf[j] = (float)x[j];
      fi_params_set(m, &ps, thf);
      stalled = 1;
      break;
    }
    double sy = 0, yy = 0;
    for (int64_t j = 0; j < P; j++) {
      double sj = xn[j] - x[j], yj = (double)gf[j] - gx[j];
      S[(size_t)head * P + j] = sj;
      Y[(size_t)head * P + j] = yj;
      sy += sj * yj;
      yy += yj * yj;
      x[j] = xn[j];
      gx[j] = gf[j];
    }
    /* Keep the pair only with positive curvature (keeps H_k positive definite). */
    if (sy > 1e-12 * yy && sy > 0) {
      rho[head] = 1.0 / sy;
      head = (head + 1) % M;
      if (nhist < M) nhist++;
    }
    f = fn;
    gnorm = gnn;
    converged = gnorm <= target;
    fi_progress("lbfgs: objective %.9g |grad| %.3e", f, gnorm);
    fi_progress_add(1);
    if (it % 25 == 0) {
      fi_log("lbfgs: iteration %lld: objective %.9g, |grad| %.3e (%.1fs)", (long long)it, f,
             gnorm, fi_now() - t0);
    }
  }
  fi_progress_end();
  /* The parameters in the model are exactly the float image of x. */
  res->objective = f;
  res->grad_norm = gnorm;
  res->iters = it;
  res->converged = converged;
  fi_evaluate(m, ws, ex, &res->loss, &res->accuracy);
  if (!isfinite(f) || !isfinite(res->loss))
    die_nonfinite(m, ws, &ps, ex, NULL, fi_examples_count(ex), "after training",
                  "lower --max-iter or rescale the features");
  fi_log("lbfgs: %s after %lld iterations (%lld evaluations): objective %.9g, |grad| %.3e (%.2e relative), "
         "train loss %.6f, train accuracy %.4f (%.1fs)",
         converged ? "converged" : stalled ? "stopped at float precision" : "hit --max-iter",
         (long long)it, (long long)evals, f, gnorm, gnorm / (g0 > 1 ? g0 : 1), res->loss, res->accuracy,
         fi_now() - t0);
  free(thf); free(gf); free(x); free(gx); free(xn); free(d);
  free(S); free(Y); free(rho); free(alpha);
  fi_ws_free(ws);
}

void fi_train(fi_model *m, const fi_examples *ex, const fi_train_opts *o,
              fi_train_result *res) {
  memset(res, 0, sizeof *res);
  if (fi_examples_count(ex) <= 0) fi_die("no training examples");
  if (o->optim == FI_OPTIM_LBFGS) train_lbfgs(m, ex, o, res);
  else train_minibatch(m, ex, o, res);
}

void fi_finetune(fi_model *m, const fi_psel *ps, const fi_examples *ex,
                 double lr, int64_t steps, int64_t batch, double wd,
                 uint64_t seed) {
  int64_t n = fi_examples_count(ex), P = ps->size;
  if (n <= 0) fi_die("no examples to fine-tune on");
  int64_t B = batch <= 0 || batch > n ? n : batch;
  fi_ws *ws = fi_ws_new(m);
  float *theta = fi_malloc(sizeof(float) * (size_t)P);
  float *g = fi_aligned((size_t)P, sizeof(float));
  unsigned char *mask = weight_mask(m, ps);
  int64_t *perm = fi_malloc(sizeof(int64_t) * (size_t)n);
  for (int64_t i = 0; i < n; i++) perm[i] = i;
  fi_rng rng;
  fi_rng_seed(&rng, seed);
  if (B < n) fi_rng_shuffle(&rng, perm, n);
  fi_params_get(m, ps, theta);
  int64_t pos = 0;
  fi_progress_count("steps", steps);
  for (int64_t s = 0; s < steps; s++) {
    if (pos + B > n) { /* next pass: a fresh permutation */
      fi_rng_shuffle(&rng, perm, n);
      pos = 0;
    }
    double loss = fi_grad_mean(m, ws, ps, ex, perm + pos, B, 0, g);
    if (!isfinite(loss) || !all_finite(g, P)) {
      char when[64];
      snprintf(when, sizeof when, "at step %lld", (long long)s + 1);
      die_nonfinite(m, ws, ps, ex, perm + pos, B, when,
                    s ? "the steps diverged; lower --lr" : "the inputs or the model's weights "
                    "overflow float arithmetic");
    }
    pos += B;
    for (int64_t j = 0; j < P; j++)
      theta[j] -= (float)(lr * (g[j] + (mask[j] ? wd * theta[j] : 0.0)));
    fi_params_set(m, ps, theta);
    if (!all_finite(theta, P))
      fi_die("fine-tuning diverged at step %lld (non-finite parameters); lower --lr", (long long)s + 1);
    fi_progress("batch loss %.6f", loss);
    fi_progress_add(1);
    if (s == 0 || s + 1 == steps) {
      fi_log("step %lld/%lld: batch loss %.6f (before the step)", (long long)s + 1,
             (long long)steps, loss);
    }
  }
  fi_progress_end();
  free(theta);
  free(g);
  free(mask);
  free(perm);
  fi_ws_free(ws);
}

/* ---- spooling ---- */

void fi_spool_read(fi_spool *sp, fi_reader *r) {
  memset(sp, 0, sizeof *sp);
  sp->d = -1;
  sp->fd = memfd_create("fastif-spool", MFD_CLOEXEC);
  if (sp->fd < 0) fi_die("memfd_create: %s", strerror(errno));
  int64_t maxlabel = -1, cap = 0;
  const fi_record *rec;
  while ((rec = fi_read(r))) {
    int64_t d = 0;
    if (fi_rec_has(rec, "x")) {
      fi_tensor t;
      fi_rec_tensor(rec, "x", &t, 1);
      d = t.n;
    } else if (!fi_rec_has(rec, "text") && !fi_rec_has(rec, "tokens")) {
      fi_rec_die(rec, "example has none of \"x\", \"text\", \"tokens\"");
    }
    if (sp->d < 0) sp->d = d;
    else if (d != sp->d)
      fi_rec_die(rec, "input size %lld differs from the first record's %lld",
                 (long long)d, (long long)sp->d);
    int64_t y;
    if (fi_rec_int(rec, "label", &y, 0)) {
      if (y < 0 || y > 1000000) fi_rec_die(rec, "label %lld out of range", (long long)y);
      if (y > maxlabel) maxlabel = y;
      const char *name = fi_rec_str(rec, "label_name", NULL, 0);
      if (name) {
        if (y >= cap) {
          int64_t nc = cap ? cap : 8;
          while (nc <= y) nc *= 2;
          sp->class_names = fi_realloc(sp->class_names, sizeof(char *) * (size_t)nc);
          for (int64_t c = cap; c < nc; c++) sp->class_names[c] = NULL;
          cap = nc;
        }
        if (!sp->class_names[y]) {
          for (int64_t c = 0; c < cap; c++)
            if (sp->class_names[c] && !strcmp(sp->class_names[c], name))
              fi_rec_die(rec, "label %lld is named \"%s\", but so is label %lld earlier: one name, "
                         "two classes", (long long)y, name, (long long)c);
          sp->class_names[y] = fi_strdup(name);
        } else if (strcmp(sp->class_names[y], name) != 0)
          fi_rec_die(rec, "label %lld is named \"%s\" here but \"%s\" earlier", (long long)y,
                     name, sp->class_names[y]);
      }
    }
    if (fi_write_all(sp->fd, fi_rec_bytes(rec), fi_rec_nbytes(rec)))
      fi_die("spooling the input: %s", strerror(errno));
    sp->n++;
  }
  if (sp->d < 0) sp->d = 0;
  sp->nclasses = (int)(maxlabel + 1);
  if (sp->class_names) { /* trim to nclasses; names beyond never happen */
    for (int64_t c = sp->nclasses; c < cap; c++) free(sp->class_names[c]);
    if (sp->nclasses == 0) { free(sp->class_names); sp->class_names = NULL; }
  }
}

fi_examples *fi_spool_examples(const fi_spool *sp, const fi_model *m, int need_label) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", sp->fd);
  fi_examples *ex = fi_examples_load(m, path, need_label);
  return ex;
}

void fi_spool_free(fi_spool *sp) {
  if (sp->class_names)
    for (int c = 0; c < sp->nclasses; c++) free(sp->class_names[c]);
  free(sp->class_names);
  if (sp->fd >= 0) close(sp->fd);
  memset(sp, 0, sizeof *sp);
  sp->fd = -1;
}

