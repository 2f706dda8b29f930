/* hvp_test.c - exact Hessian-vector and Gauss-Newton-vector products
 * (R-operator) for every architecture and parameter selection:
 *  - the dense Hessian built from fi_hvp on unit vectors vs the Hessian of
 *    an independent double-precision reference objective by second-order
 *    central differences, and its symmetry;
 *  - fi_hvp(v) vs central differences of fi_grad_mean (f32) along v;
 *  - batch HVP == mean of single-example HVPs; linearity;
 *  - the dense Gauss-Newton matrix from fi_ggnvp vs J^T (diag p - p p^T) J
 *    with J the reference's logit Jacobian (central differences, double);
 *    symmetric and positive semi-definite; equal to the Hessian where the
 *    logits are linear in the selected parameters, told apart from it
 *    elsewhere;
 *  - each criterion rejects a deliberately wrong answer (the l2 term left
 *    out), so its tolerance means something. */
#include <lapacke.h>
#include "model_internal.h"
#include "model_ref.h"
#include "tap.h"

typedef struct {
  const char *spec, *params;
  int act;
  int64_t d;
  int C;
  int lin; /* the logits are (piecewise) linear in the selected parameters: G = H */
} config;

static double relerr_d(const double *got, const double *want, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return sqrt(num) / sqrt(den);
}

typedef void (*product_fn)(const fi_model *, fi_ws *, const fi_psel *, const fi_examples *,
                           const int64_t *, int64_t, const float *, float *);

/* the dense P x P matrix of a product (fi_hvp, fi_ggnvp) from unit vectors */
static double *dense_of(product_fn f, fi_model *m, fi_ws *ws, const fi_psel *ps,
                        fi_examples *ex, const int64_t *idx, int64_t nb) {
  int64_t P = ps->size;
  double *M = malloc((size_t)(P * P) * sizeof(double));
  float *e = calloc((size_t)P, sizeof(float)), *col = malloc((size_t)P * sizeof(float));
  for (int64_t j = 0; j < P; j++) {
    e[j] = 1;
    f(m, ws, ps, ex, idx, nb, e, col);
    e[j] = 0;
    for (int64_t i = 0; i < P; i++) M[i * P + j] = col[i];
  }
  free(e);
  free(col);
  return M;
}

/* ||M - M^T|| / ||M|| */
static double rel_asym(const double *M, int64_t P) {
  double asym = 0, nrm = 0;
  for (int64_t i = 0; i < P; i++)
    for (int64_t j = 0; j < P; j++) {
      asym += (M[i * P + j] - M[j * P + i]) * (M[i * P + j] - M[j * P + i]);
      nrm += M[i * P + j] * M[i * P + j];
    }
  return sqrt(asym / nrm);
}

/* M += by on the selected weights' diagonal (the l2 term) */
static void add_l2(fi_model *m, const fi_psel *ps, double by, double *M) {
  int64_t P = ps->size;
  for (int s = 0; s < ps->n; s++)
    if (fi_model_param_is_weight(m, ps->idx[s]))
      for (int64_t k = 0; k < fi_model_param_numel(m, ps->idx[s]); k++) {
        int64_t q = ps->off[s] + k;
        M[q * P + q] += by;
      }
}

/* smallest and largest eigenvalue of the symmetric P x P matrix M */
static void eig_range(const double *M, int64_t P, double *lo, double *hi) {
  double *A = malloc((size_t)(P * P) * sizeof(double)), *w = malloc((size_t)P * sizeof(double));
  memcpy(A, M, (size_t)(P * P) * sizeof(double));
  if (LAPACKE_dsyev(LAPACK_ROW_MAJOR, 'N', 'U', (lapack_int)P, A, (lapack_int)P, w)) *lo = *hi = NAN;
  else *lo = w[0], *hi = w[P - 1];
  free(A);
  free(w);
}

/* Gauss-Newton products against J^T (diag p - p p^T) J from the reference */
static void check_ggn(const config *c, fi_model *m, fi_ws *ws, const fi_psel *ps,
                      fi_examples *ex, const int64_t *idx, int64_t nb, const refnet *r,
                      double *th, const int64_t *map, const refdata *D, double l2,
                      const double *Hm) {
  int64_t P = ps->size, C = c->C;
  double *Gm = dense_of(fi_ggnvp, m, ws, ps, ex, idx, nb);
  double *Gref = calloc((size_t)(P * P), sizeof(double));
  float *e = malloc((size_t)P * sizeof(float)), *col = malloc((size_t)P * sizeof(float));
  /* the reference: J_i [C, P] by central differences of the double logits */
  double *J = malloc((size_t)(C * P) * sizeof(double)), *HJ = malloc((size_t)(C * P) * sizeof(double));
  double z[512], zp[512], zm[512], p[512], h = 1e-5;
  for (int64_t ii = 0; ii < nb; ii++) {
    int64_t jx = idx[ii];
    ref_logits(r, th, D, jx, z);
    double mx = z[0], sum = 0;
    for (int64_t k = 1; k < C; k++) mx = z[k] > mx ? z[k] : mx;
    for (int64_t k = 0; k < C; k++) sum += p[k] = exp(z[k] - mx);
    for (int64_t k = 0; k < C; k++) p[k] /= sum;
    for (int64_t q = 0; q < P; q++) {
      double save = th[map[q]];
      th[map[q]] = save + h;
      ref_logits(r, th, D, jx, zp);
      th[map[q]] = save - h;
      ref_logits(r, th, D, jx, zm);
      th[map[q]] = save;
      for (int64_t k = 0; k < C; k++) J[k * P + q] = (zp[k] - zm[k]) / (2 * h);
    }
    for (int64_t q = 0; q < P; q++) { /* HJ = (diag p - p p^T) J */
      double pj = 0;
      for (int64_t k = 0; k < C; k++) pj += p[k] * J[k * P + q];
      for (int64_t k = 0; k < C; k++) HJ[k * P + q] = p[k] * (J[k * P + q] - pj);
    }
    for (int64_t a = 0; a < P; a++)
      for (int64_t b = 0; b < P; b++) {
        double acc = 0;
        for (int64_t k = 0; k < C; k++) acc += J[k * P + a] * HJ[k * P + b];
        Gref[a * P + b] += acc / (double)nb;
      }
  }
  add_l2(m, ps, l2, Gref);
  double eG = relerr_d(Gm, Gref, P * P);
  ok(eG < 1e-5, "  Gauss-Newton from fi_ggnvp vs double J^T (diag p - pp^T) J + l2: rel err %.2e < 1e-5", eG);
  double *G0 = malloc((size_t)(P * P) * sizeof(double));
  memcpy(G0, Gm, (size_t)(P * P) * sizeof(double));
  add_l2(m, ps, -l2, G0);
  double e0 = relerr_d(G0, Gref, P * P);
  ok(e0 > 1e-3, "  ... and rejects it without the l2 term (rel err %.2e)", e0);
  if (c->lin) {
    double eH = relerr_d(Hm, Gm, P * P);
    ok(eH < 1e-6, "  G = H: the logits are (piecewise) linear in these parameters (rel diff %.2e < 1e-6)", eH);
  } else {
    double eH = relerr_d(Hm, Gref, P * P);
    ok(eH > 1e-3, "  the criterion tells the Hessian from G (rel err %.2e)", eH);
  }
  double ga = rel_asym(Gm, P);
  ok(ga < 1e-5, "  G is symmetric (rel asym %.2e)", ga);
  /* positive semi-definite without the ridge: v^T G v - l2 |v_w|^2 >= 0
   * along random directions (matrix-free), and the smallest eigenvalue */
  double glo, ghi, hlo, hhi;
  eig_range(G0, P, &glo, &ghi);
  double *H0 = malloc((size_t)(P * P) * sizeof(double));
  memcpy(H0, Hm, (size_t)(P * P) * sizeof(double));
  add_l2(m, ps, -l2, H0);
  eig_range(H0, P, &hlo, &hhi);
  fi_rng g;
  fi_rng_seed(&g, 31);
  double worst = INFINITY;
  for (int t = 0; t < 50; t++) {
    double vw = 0;
    for (int64_t j = 0; j < P; j++) e[j] = (float)fi_rng_normal(&g);
    fi_ggnvp(m, ws, ps, ex, idx, nb, e, col);
    double q = 0, vv = 0;
    for (int64_t j = 0; j < P; j++) {
      q += (double)e[j] * col[j];
      vv += (double)e[j] * e[j];
    }
    for (int s = 0; s < ps->n; s++)
      if (fi_model_param_is_weight(m, ps->idx[s]))
        for (int64_t k = 0; k < fi_model_param_numel(m, ps->idx[s]); k++)
          vw += (double)e[ps->off[s] + k] * e[ps->off[s] + k];
    q = (q - l2 * vw) / (vv * ghi);
    if (q < worst) worst = q;
  }
  ok(worst > -1e-5 && glo > -1e-5 * ghi,
     "  G - l2 is PSD: min v^T G v / |v|^2 over 50 random v %.2e, smallest eigenvalue %.2e "
     "(largest %.2e)", worst * ghi, glo, ghi);
  if (!c->lin) ok(hlo < -1e-5 * hhi, "  ... a criterion the Hessian fails here (smallest eigenvalue %.2e)", hlo);
  /* batch G == mean of single-example G */
  float *v = malloc((size_t)P * sizeof(float)), *Gv = malloc((size_t)P * sizeof(float));
  double *acc = calloc((size_t)P, sizeof(double));
  for (int64_t j = 0; j < P; j++) v[j] = (float)fi_rng_normal(&g);
  for (int64_t i = 0; i < nb; i++) {
    fi_ggnvp(m, ws, ps, ex, idx + i, 1, v, Gv);
    for (int64_t j = 0; j < P; j++) acc[j] += Gv[j] / (double)nb;
  }
  fi_ggnvp(m, ws, ps, ex, idx, nb, v, Gv);
  double eb = ref_relerr_f(Gv, acc, P);
  ok(eb < 1e-5, "  batch G v == mean of single-example G v (rel err %.2e)", eb);
  free(v);
  free(Gv);
  free(acc);
  free(H0);
  free(G0);
  free(J);
  free(HJ);
  free(Gm);
  free(Gref);
  free(e);
  free(col);
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
  double *Hm = dense_of(fi_hvp, m, ws, &ps, ex, idx, nb);
  double *Hnol2 = malloc((size_t)(P * P) * sizeof(double));
  double ha = rel_asym(Hm, P);
  ok(ha < 1e-5, "  Hessian from HVPs is symmetric (rel asym %.2e)", ha);

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
  add_l2(m, &ps, -l2, Hnol2);
  double eW = relerr_d(Hnol2, Hfd, P * P);
  ok(eW > 1e-3, "  ... and rejects it without the l2 term (rel err %.2e)", eW);
  check_ggn(c, m, ws, &ps, ex, idx, nb, &r, th, map, &D, l2, Hm);

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
  { /* k vectors over one shared forward pass: bitwise the single products */
    float *V2 = malloc((size_t)(2 * P) * sizeof(float)), *HV2 = malloc((size_t)(2 * P) * sizeof(float));
    memcpy(V2, v, (size_t)P * sizeof(float));
    memcpy(V2 + P, w2, (size_t)P * sizeof(float));
    int same = 1;
    fi_hvp_many(m, ws, &ps, ex, idx, nb, 2, V2, HV2);
    for (int64_t j = 0; j < P; j++) same &= HV2[j] == Hv[j] && HV2[P + j] == Hw[j];
    ok(same, "  fi_hvp_many of 2 vectors is bitwise two fi_hvp");
    fi_ggnvp_many(m, ws, &ps, ex, idx, nb, 2, V2, HV2);
    fi_ggnvp(m, ws, &ps, ex, idx, nb, w2, Hw);
    same = 1;
    for (int64_t j = 0; j < P; j++) same &= HV2[P + j] == Hw[j];
    ok(same, "  fi_ggnvp_many of 2 vectors is bitwise fi_ggnvp");
    free(V2);
    free(HV2);
  }
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
      {"linear", NULL, 0, 5, 3, 1},
      {"mlp:6:tanh", NULL, 1, 4, 3, 0},
      {"mlp:6,5:relu", NULL, 2, 4, 3, 0},
      {"mlp:5,4:tanh", "layers.1", 1, 3, 3, 0},
      {"mlp:5,4:tanh", "layers.0.weight,layers.2.bias", 1, 3, 3, 0},
      {"mlp:5,4:tanh", "layers.2", 1, 3, 3, 1},
      {"bow:9,4,5:tanh", NULL, 1, 0, 3, 0},
      {"bow:9,4,5:tanh", "all", 1, 0, 3, 0},
      {"bow:7,3,4:relu", "embedding.weight,layers.1", 2, 0, 2, 0},
      {"bow:7,3,4:relu", "embedding", 2, 0, 2, 1}, /* relu: f'' = 0 */
      {"bow:7,3", "embedding", 1, 0, 3, 1},
  };
  for (size_t i = 0; i < sizeof cfgs / sizeof *cfgs; i++) check_config(&cfgs[i]);
  time_batch1();
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", ref_tmpdir());
  if (system(cmd)) diag("could not remove %s", ref_tmpdir());
  return done_testing();
}
