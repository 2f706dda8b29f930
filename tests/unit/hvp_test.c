/* hvp_test.c - exact Hessian-vector products (R-operator) for every
 * architecture and parameter selection:
 *  - the dense Hessian built from fi_hvp on unit vectors vs the Hessian of
 *    an independent double-precision reference objective by second-order
 *    central differences, and its symmetry;
 *  - fi_hvp(v) vs central differences of fi_grad_mean (f32) along v;
 *  - batch HVP == mean of single-example HVPs; linearity;
 *  - each criterion rejects a deliberately wrong answer (the l2 term left
 *    out), so its tolerance means something. */
#include "model_internal.h"
#include "model_ref.h"
#include "tap.h"

typedef struct {
  const char *spec, *params;
  int act;
  int64_t d;
  int C;
} config;

static double relerr_d(const double *got, const double *want, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return sqrt(num) / sqrt(den);
}

static void check_config(const config *c) {
  double l2 = 0.05;
  char err[256], path[512];
  fi_model *m = fi_model_create(c->spec, c->d, c->C, l2, 21, err, sizeof err);
  if (!m) {
    ok(0, "create %s: %s", c->spec, err);
    return;
  }
  ref_perturb_model(m, 0.8, c->act == 2 ? 0.3 : 0.1, 22);
  refdata D;
  snprintf(path, sizeof path, "%s/data", ref_tmpdir());
  int bow = !strcmp(fi_model_type(m), "bow");
  if (bow) ref_make_bow(&D, 6, m->buckets, c->C, 23, path);
  else ref_make_dense(&D, 6, c->d, c->C, 23, path);
  fi_examples *ex = fi_examples_load(m, path, 1);
  unlink(path);
  refnet r;
  ref_init(&r, m, c->act);
  fi_psel ps;
  if (fi_psel_parse(m, c->params, &ps, err, sizeof err)) {
    ok(0, "psel: %s", err);
    return;
  }
  int64_t P = ps.size;
  int64_t *map = ref_selmap(&r, &ps);
  double *th = ref_theta(m, &r);
  fi_ws *ws = fi_ws_new(m);
  int64_t idx[5] = {4, 1, 0, 5, 1};
  int64_t nb = 5;
  diag("%s [%s]: P = %lld", c->spec, c->params ? c->params : "default", (long long)P);

  /* dense Hessian from HVPs on unit vectors */
  double *Hm = malloc((size_t)(P * P) * sizeof(double));
  double *Hnol2 = malloc((size_t)(P * P) * sizeof(double));
  float *e = calloc((size_t)P, sizeof(float)), *col = malloc((size_t)P * sizeof(float));
  for (int64_t j = 0; j < P; j++) {
    e[j] = 1;
    fi_hvp(m, ws, &ps, ex, idx, nb, e, col);
    e[j] = 0;
    for (int64_t i = 0; i < P; i++) Hm[i * P + j] = col[i];
  }
  double asym = 0, nrm = 0;
  for (int64_t i = 0; i < P; i++)
    for (int64_t j = 0; j < P; j++) {
      asym += (Hm[i * P + j] - Hm[j * P + i]) * (Hm[i * P + j] - Hm[j * P + i]);
      nrm += Hm[i * P + j] * Hm[i * P + j];
    }
  ok(sqrt(asym / nrm) < 1e-5, "  Hessian from HVPs is symmetric (rel asym %.2e)", sqrt(asym / nrm));

  /* reference Hessian by second differences of the double objective */
  double *Hfd = malloc((size_t)(P * P) * sizeof(double));
  double h = 1e-3;
  for (int64_t i = 0; i < P; i++)
    for (int64_t j = i; j < P; j++) {
      double f[4];
      int sg[4][2] = {{1, 1}, {1, -1}, {-1, 1}, {-1, -1}};
      for (int q = 0; q < 4; q++) {
        double si = th[map[i]], sj = th[map[j]];
        th[map[i]] += sg[q][0] * h;
        th[map[j]] += sg[q][1] * h;
        f[q] = ref_loss(&r, th, &D, idx, nb, l2);
        th[map[i]] = si;
        th[map[j]] = sj;
      }
      Hfd[i * P + j] = Hfd[j * P + i] = (f[0] - f[1] - f[2] + f[3]) / (4 * h * h);
    }
  double eH = relerr_d(Hm, Hfd, P * P);
  ok(eH < 1e-4, "  Hessian from HVPs vs double finite differences: rel err %.2e < 1e-4", eH);
  /* the same criterion rejects the Hessian without its l2 term */
  memcpy(Hnol2, Hm, (size_t)(P * P) * sizeof(double));
  for (int s = 0; s < ps.n; s++)
    if (fi_model_param_is_weight(m, ps.idx[s]))
      for (int64_t k = 0; k < fi_model_param_numel(m, ps.idx[s]); k++) {
        int64_t q = ps.off[s] + k;
        Hnol2[q * P + q] -= l2;
      }
  double eW = relerr_d(Hnol2, Hfd, P * P);
  ok(eW > 1e-3, "  ... and rejects it without the l2 term (rel err %.2e)", eW);

  /* HVP along a random direction vs central differences of fi_grad_mean */
  float *v = malloc((size_t)P * sizeof(float)), *Hv = malloc((size_t)P * sizeof(float));
  float *theta = malloc((size_t)P * sizeof(float)), *tp = malloc((size_t)P * sizeof(float));
  float *gp = malloc((size_t)P * sizeof(float)), *gm = malloc((size_t)P * sizeof(float));
  double *fd = malloc((size_t)P * sizeof(double)), *wrong = malloc((size_t)P * sizeof(double));
  fi_rng g;
  fi_rng_seed(&g, 99);
  double vn = 0;
  for (int64_t j = 0; j < P; j++) {
    v[j] = (float)fi_rng_normal(&g);
    vn += (double)v[j] * v[j];
  }
  for (int64_t j = 0; j < P; j++) v[j] = (float)(v[j] / sqrt(vn));
  fi_params_get(m, &ps, theta);
  int64_t nbs[2] = {5, 1};
  for (int q = 0; q < 2; q++) {
    int64_t n = nbs[q];
    const int64_t *ix = n == 1 ? idx + 3 : idx;
    fi_hvp(m, ws, &ps, ex, ix, n, v, Hv);
    double step = 1e-2;
    for (int64_t j = 0; j < P; j++) tp[j] = theta[j] + (float)step * v[j];
    fi_params_set(m, &ps, tp);
    fi_grad_mean(m, ws, &ps, ex, ix, n, 1, gp);
    for (int64_t j = 0; j < P; j++) tp[j] = theta[j] - (float)step * v[j];
    fi_params_set(m, &ps, tp);
    fi_grad_mean(m, ws, &ps, ex, ix, n, 1, gm);
    fi_params_set(m, &ps, theta);
    for (int64_t j = 0; j < P; j++) fd[j] = ((double)gp[j] - gm[j]) / (2 * step);
    double ev = ref_relerr_f(Hv, fd, P);
    ok(ev < 1e-3, "  HVP (batch %lld) vs FD of the f32 gradient: rel err %.2e < 1e-3", (long long)n, ev);
    for (int64_t j = 0; j < P; j++) wrong[j] = Hv[j];
    for (int s = 0; s < ps.n; s++)
      if (fi_model_param_is_weight(m, ps.idx[s]))
        for (int64_t k = 0; k < fi_model_param_numel(m, ps.idx[s]); k++)
          wrong[ps.off[s] + k] -= l2 * v[ps.off[s] + k];
    double ew = relerr_d(wrong, fd, P);
    ok(ew > 1e-2, "  ... and rejects the HVP without the l2 term (rel err %.2e)", ew);
  }

  /* batch HVP == mean of the single-example HVPs (with repeats) */
  double *acc = calloc((size_t)P, sizeof(double));
  for (int64_t i = 0; i < nb; i++) {
    fi_hvp(m, ws, &ps, ex, idx + i, 1, v, Hv);
    for (int64_t j = 0; j < P; j++) acc[j] += Hv[j] / (double)nb;
  }
  fi_hvp(m, ws, &ps, ex, idx, nb, v, Hv);
  double eb = ref_relerr_f(Hv, acc, P);
  ok(eb < 1e-5, "  batch HVP == mean of single-example HVPs (rel err %.2e)", eb);
  /* linearity: H(2v + e_0) = 2Hv + H e_0 */
  float *w2 = malloc((size_t)P * sizeof(float)), *Hw = malloc((size_t)P * sizeof(float));
  for (int64_t j = 0; j < P; j++) w2[j] = 2 * v[j] + (j == 0);
  fi_hvp(m, ws, &ps, ex, idx, nb, w2, Hw);
  for (int64_t j = 0; j < P; j++) acc[j] = 2.0 * Hv[j] + Hm[j * P + 0];
  double el = ref_relerr_f(Hw, acc, P);
  ok(el < 1e-5, "  HVP is linear in v (rel err %.2e)", el);
  if (bow) { /* cached embedding bags give the very same numbers */
    fi_examples_cache_bags(ex, m);
    int same = 1;
    float *Hc = malloc((size_t)P * sizeof(float));
    fi_hvp(m, ws, &ps, ex, idx, nb, v, Hc);
    for (int64_t j = 0; j < P; j++) same &= Hc[j] == Hv[j];
    ok(same, "  HVP with cached embedding bags is bitwise the uncached one");
    free(Hc);
  }

  free(w2);
  free(Hw);
  free(acc);
  free(v);
  free(Hv);
  free(theta);
  free(tp);
  free(gp);
  free(gm);
  free(fd);
  free(wrong);
  free(Hm);
  free(Hnol2);
  free(Hfd);
  free(e);
  free(col);
  free(th);
  free(map);
  fi_ws_free(ws);
  fi_examples_free(ex);
  ref_free(&D);
  fi_model_free(m);
}

/* LiSSA's inner loop: one HVP on one example, Fashion-MNIST-sized mlp. */
static void time_batch1(void) {
  char err[200], path[512];
  fi_model *m = fi_model_create("mlp:128", 784, 10, 1e-3, 1, err, sizeof err);
  refdata D;
  snprintf(path, sizeof path, "%s/big", ref_tmpdir());
  ref_make_dense(&D, 64, 784, 10, 3, path);
  fi_examples *ex = fi_examples_load(m, path, 1);
  fi_psel ps;
  fi_psel_parse(m, NULL, &ps, err, sizeof err);
  fi_ws *ws = fi_ws_new(m);
  float *v = calloc((size_t)ps.size, sizeof(float)), *Hv = malloc((size_t)ps.size * sizeof(float));
  for (int64_t j = 0; j < ps.size; j++) v[j] = (float)((j % 7) - 3) * 1e-2f;
  int64_t i0 = 0;
  fi_hvp(m, ws, &ps, ex, &i0, 1, v, Hv); /* warm */
  int reps = 300;
  double t0 = fi_now();
  for (int k = 0; k < reps; k++) {
    int64_t i = k % 64;
    fi_hvp(m, ws, &ps, ex, &i, 1, v, Hv);
  }
  double dt = (fi_now() - t0) / reps;
  int fin = 1;
  for (int64_t j = 0; j < ps.size; j++) fin &= isfinite(Hv[j]);
  ok(fin, "batch-1 HVP, mlp 784-128-10 (P=%lld): %.1f us per call", (long long)ps.size, dt * 1e6);
  int64_t all[64];
  for (int i = 0; i < 64; i++) all[i] = i;
  t0 = fi_now();
  for (int k = 0; k < 20; k++) fi_hvp(m, ws, &ps, ex, all, 64, v, Hv);
  diag("batch-64 HVP: %.1f us per call", (fi_now() - t0) / 20 * 1e6);
  free(v);
  free(Hv);
  fi_ws_free(ws);
  fi_examples_free(ex);
  ref_free(&D);
  fi_model_free(m);
}

int main(void) {
  fi_set_progname("hvp_test");
  config cfgs[] = {
      {"linear", NULL, 0, 5, 3},
      {"mlp:6:tanh", NULL, 1, 4, 3},
      {"mlp:6,5:relu", NULL, 2, 4, 3},
      {"mlp:5,4:tanh", "layers.1", 1, 3, 3},
      {"mlp:5,4:tanh", "layers.0.weight,layers.2.bias", 1, 3, 3},
      {"bow:9,4,5:tanh", NULL, 1, 0, 3},
      {"bow:9,4,5:tanh", "all", 1, 0, 3},
      {"bow:7,3,4:relu", "embedding.weight,layers.1", 2, 0, 2},
      {"bow:7,3", "embedding", 1, 0, 3},
  };
  for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++) check_config(&cfgs[i]);
  time_batch1();
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", ref_tmpdir());
  if (system(cmd)) diag("could not remove %s", ref_tmpdir());
  return done_testing();
}
