/* lissa_test.c - the inverse-HVP solvers on synthetic quadratic problems
 * whose Hessian is known in closed form: H_i = sign_i * u_i u_i^T + l2*I per
 * "training example", H = mean over examples. Reference solves use Gaussian
 * elimination in long double, independent of the LAPACK path under test. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "solve.h"
#include "tap.h"
#include "util.h"

typedef struct {
  int64_t N, P;
  double l2;
  float *U;    /* [N, P] */
  float *sgn;  /* [N] +1 or -1 */
  double *Hd;  /* or, when set, one fixed H [P, P] for every batch */
} problem;

typedef struct {
  const problem *pb;
  long calls;
  atomic_int busy;   /* calls in progress with this context */
  atomic_int shared; /* set when two calls overlapped on it */
} ctx_t;

static void hvp_body(ctx_t *c, const int64_t *idx, int64_t nb, const float *v, float *Hv);
static void hvp(void *vctx, const int64_t *idx, int64_t nb, const float *v, float *Hv) {
  ctx_t *c = vctx;
  if (atomic_fetch_add(&c->busy, 1) != 0) atomic_store(&c->shared, 1);
  c->calls++;
  hvp_body(c, idx, nb, v, Hv);
  atomic_fetch_sub(&c->busy, 1);
}

static void hvp_body(ctx_t *c, const int64_t *idx, int64_t nb, const float *v, float *Hv) {
  const problem *pb = c->pb;
  if (pb->Hd) {
    for (int64_t a = 0; a < pb->P; a++) {
      double d = 0;
      for (int64_t b = 0; b < pb->P; b++) d += pb->Hd[a * pb->P + b] * v[b];
      Hv[a] = (float)d;
    }
    return;
  }
  for (int64_t k = 0; k < pb->P; k++) Hv[k] = (float)(pb->l2 * v[k]);
  for (int64_t b = 0; b < nb; b++) {
    int64_t i = idx ? idx[b] : b;
    const float *u = pb->U + i * pb->P;
    double d = 0;
    for (int64_t k = 0; k < pb->P; k++) d += (double)u[k] * v[k];
    d *= pb->sgn[i] / (double)nb;
    for (int64_t k = 0; k < pb->P; k++) Hv[k] += (float)(d * u[k]);
  }
}

static problem make_problem(int64_t N, int64_t P, double l2, int nneg, uint64_t seed) {
  problem pb = {.N = N, .P = P, .l2 = l2};
  pb.U = malloc(N * P * sizeof(float));
  pb.sgn = malloc(N * sizeof(float));
  fi_rng r;
  fi_rng_seed(&r, seed);
  for (int64_t i = 0; i < N; i++) {
    pb.sgn[i] = i < nneg ? -1.0f : 1.0f;
    for (int64_t k = 0; k < P; k++) /* anisotropic: eigenvalues spread ~10x */
      pb.U[i * P + k] = (float)(fi_rng_normal(&r) * (1.0 - 0.7 * k / (double)P));
  }
  return pb;
}

/* A fixed H = Q diag(lam) Q^T (Q a random rotation) for every batch: the
 * LiSSA step is then the deterministic h_j = v + A h_{j-1} with
 * A = (1 - damping) I - H / scale, whose eigenvalues the test chooses. */
static problem spectrum_problem(int64_t P, const double *lam, uint64_t seed) {
  problem pb = {.N = 1, .P = P};
  double *Q = calloc(P * P, sizeof *Q);
  fi_rng r;
  fi_rng_seed(&r, seed);
  for (int64_t i = 0; i < P; i++) { /* Gram-Schmidt on random rows */
    double *q = Q + i * P, n = 0;
    for (int64_t k = 0; k < P; k++) q[k] = fi_rng_normal(&r);
    for (int64_t j = 0; j < i; j++) {
      double d = 0;
      for (int64_t k = 0; k < P; k++) d += q[k] * Q[j * P + k];
      for (int64_t k = 0; k < P; k++) q[k] -= d * Q[j * P + k];
    }
    for (int64_t k = 0; k < P; k++) n += q[k] * q[k];
    for (int64_t k = 0; k < P; k++) q[k] /= sqrt(n);
  }
  pb.Hd = calloc(P * P, sizeof *pb.Hd);
  for (int64_t i = 0; i < P; i++)
    for (int64_t a = 0; a < P; a++)
      for (int64_t b = 0; b < P; b++) pb.Hd[a * P + b] += lam[i] * Q[i * P + a] * Q[i * P + b];
  free(Q);
  return pb;
}

/* Dense H + shift I in long double. */
static long double *dense(const problem *pb, double shift) {
  int64_t P = pb->P;
  long double *A = calloc(P * P, sizeof *A);
  if (pb->Hd) {
    for (int64_t a = 0; a < P * P; a++) A[a] = pb->Hd[a];
    for (int64_t a = 0; a < P; a++) A[a * P + a] += shift;
    return A;
  }
  for (int64_t i = 0; i < pb->N; i++)
    for (int64_t a = 0; a < P; a++)
      for (int64_t b = 0; b < P; b++)
        A[a * P + b] += (long double)pb->sgn[i] * pb->U[i * P + a] * pb->U[i * P + b] / pb->N;
  for (int64_t a = 0; a < P; a++) A[a * P + a] += pb->l2 + shift;
  return A;
}

static void direct_solve(const problem *pb, double shift, const float *v, double *x) {
  int64_t P = pb->P;
  long double *A = dense(pb, shift), *b = malloc(P * sizeof *b);
  for (int64_t k = 0; k < P; k++) b[k] = v[k];
  for (int64_t c = 0; c < P; c++) { /* partial pivoting */
    int64_t piv = c;
    for (int64_t r = c + 1; r < P; r++)
      if (fabsl(A[r * P + c]) > fabsl(A[piv * P + c])) piv = r;
    for (int64_t k = 0; k < P; k++) {
      long double t = A[c * P + k];
      A[c * P + k] = A[piv * P + k];
      A[piv * P + k] = t;
    }
    long double t = b[c];
    b[c] = b[piv];
    b[piv] = t;
    for (int64_t r = c + 1; r < P; r++) {
      long double f = A[r * P + c] / A[c * P + c];
      for (int64_t k = c; k < P; k++) A[r * P + k] -= f * A[c * P + k];
      b[r] -= f * b[c];
    }
  }
  for (int64_t c = P - 1; c >= 0; c--) {
    long double s = b[c];
    for (int64_t k = c + 1; k < P; k++) s -= A[c * P + k] * x[k];
    x[c] = (double)(s / A[c * P + c]);
  }
  free(A);
  free(b);
}

static double rel_err(const float *got, const double *want, int64_t P) {
  double e = 0, n = 0;
  for (int64_t k = 0; k < P; k++) {
    e += (got[k] - want[k]) * (got[k] - want[k]);
    n += want[k] * want[k];
  }
  return sqrt(e / n);
}

static fi_oracle make_oracle(const problem *pb, int nthreads, ctx_t *ctxs, void **ptrs) {
  for (int t = 0; t < nthreads; t++) {
    ctxs[t].pb = pb;
    ctxs[t].calls = 0;
    atomic_init(&ctxs[t].busy, 0);
    atomic_init(&ctxs[t].shared, 0);
    ptrs[t] = &ctxs[t];
  }
  return (fi_oracle){.apply = hvp, .ctx = ptrs, .nthreads = nthreads, .P = pb->P, .N = pb->N};
}

/* Settings for LiSSA (cg and exact read c.shift, cg and exact). */
static fi_solve_opts lissa_opts(int64_t depth, int64_t batch, int64_t repeats, double scale,
                                double damping, uint64_t seed) {
  return (fi_solve_opts){.c = {.scale = scale, .damping = damping, .shift = damping * scale, .seed = seed},
                         .lissa = {.depth = depth, .batch = batch, .repeats = repeats},
                         .cg = {.tol = 1e-6, .max_iter = 1000},
                         .exact = {.max_p = 4000}};
}

static fi_solve_error err;
static fi_solve_status lissa(const fi_oracle *o, const fi_solve_opts *opt, int64_t m, const float *V,
                             float *S) {
  err.msg[0] = 0;
  return fi_lissa_solve(o, opt, m, V, S, NULL, NULL, &err);
}

/* The pool: every job once, thread 0 is the caller, and within one run a
 * thread index is one OS thread (what per-thread contexts rely on). */
typedef struct {
  atomic_int ran[64];
  pthread_t who[64];
  int thread[64];
} pool_probe;
static void pool_job(void *arg, int thread, int64_t j) {
  pool_probe *p = arg;
  atomic_fetch_add(&p->ran[j], 1);
  p->who[j] = pthread_self();
  p->thread[j] = thread;
}
static void test_pool(void) {
  pool_probe p;
  memset(&p, 0, sizeof p);
  fi_pool_run(3, 64, pool_job, &p);
  int once = 1, same = 1, caller = 1;
  for (int j = 0; j < 64; j++) {
    once &= atomic_load(&p.ran[j]) == 1;
    for (int k = 0; k < j; k++)
      if (p.thread[k] == p.thread[j]) same &= pthread_equal(p.who[k], p.who[j]) != 0;
    if (p.thread[j] == 0) caller &= pthread_equal(p.who[j], pthread_self()) != 0;
    same &= p.thread[j] >= 0 && p.thread[j] < 3;
  }
  ok(once, "pool: every job ran exactly once");
  ok(same && caller, "pool: a thread index is one OS thread within a run, index 0 the caller");
}

int main(void) {
  fi_set_progname("lissa_test");
  test_pool();
  enum { P = 24, N = 300, M = 3 };
  problem pb = make_problem(N, P, 0.05, 0, 42);
  ctx_t ctxs[4];
  void *ptrs[4];
  fi_oracle o1 = make_oracle(&pb, 1, ctxs, ptrs);

  float V[M * P];
  fi_rng r;
  fi_rng_seed(&r, 7);
  for (int k = 0; k < M * P; k++) V[k] = (float)fi_rng_normal(&r);
  double ref[M][P];
  const double damping = 0.01;

  /* scale auto: above every batch's top eigenvalue / 2 (LiSSA's limit). */
  double top1 = 0; /* exact max over B=1 batches: ||u_i||^2 + l2 */
  for (int i = 0; i < N; i++) {
    double n = 0;
    for (int k = 0; k < P; k++) n += pb.U[i * P + k] * pb.U[i * P + k];
    if (n + pb.l2 > top1) top1 = n + pb.l2;
  }
  double est1 = fi_top_eigenvalue(&o1, 1, 16, 30, 1);
  diag("B=1: power-iteration estimate %.4g, true max over all examples %.4g", est1, top1);
  ok(est1 <= top1 * (1 + 1e-4), "power iteration is a lower bound on the batch top eigenvalue");
  ok(est1 * FI_SCALE_SAFETY > top1 / 2, "auto scale (x%g) exceeds half of every B=1 batch's top eigenvalue",
     FI_SCALE_SAFETY);
  double estB = fi_top_eigenvalue(&o1, 50, 8, 50, 1);
  double scale = estB * FI_SCALE_SAFETY, shift = damping * scale;
  diag("B=50: estimate %.4g -> scale %.4g, shift %.4g", estB, scale, shift);
  for (int i = 0; i < M; i++) direct_solve(&pb, shift, V + i * P, ref[i]);

  /* exact */
  float S[M * P];
  double emin, emax;
  fi_exact_solve_eig(&o1, shift, 4000, M, V, S, &emin, &emax, &err);
  double e = 0;
  for (int i = 0; i < M; i++) e = fmax(e, rel_err(S + i * P, ref[i], P));
  ok(e < 1e-5, "exact matches a direct solve (rel err %.2g)", e);
  ok(emin > pb.l2 * 0.99 && emax > emin, "exact reports eigenvalues of H (%.4g .. %.4g)", emin, emax);

  /* CG */
  fi_solve_opts cgo = lissa_opts(0, 1, 1, scale, damping, 0);
  cgo.cg = (fi_cg_opts){.tol = 1e-7, .max_iter = 500};
  fi_solve_info ci;
  fi_cg_solve(&o1, &cgo, M, V, S, NULL, &ci, &err);
  int64_t iters = ci.iters;
  e = 0;
  for (int i = 0; i < M; i++) e = fmax(e, rel_err(S + i * P, ref[i], P));
  ok(e < 1e-4, "CG within 1e-4 of a direct solve (rel err %.2g, %lld iterations)", e, (long long)iters);

  /* LiSSA, J*B large: the final iterate's noise shrinks as 1/sqrt(B*T)
   * (measured: 6% at B=50, T=4; no bias). */
  fi_solve_opts opt = lissa_opts(600, 1000, 8, scale, damping, 3);
  lissa(&o1, &opt, M, V, S);
  e = 0;
  for (int i = 0; i < M; i++) e = fmax(e, rel_err(S + i * P, ref[i], P));
  ok(e < 0.02, "LiSSA (J=600, B=1000, T=8) within 2%% of the exact solve (rel err %.3g)", e);

  /* FastIF's fast setting B=1 with auto scale: stable and close. */
  fi_solve_opts fast = lissa_opts(3000, 1, 8, est1 * FI_SCALE_SAFETY, damping, 5);
  double ref1[P];
  direct_solve(&pb, fast.c.shift, V, ref1);
  lissa(&o1, &fast, 1, V, S);
  e = rel_err(S, ref1, P);
  ok(e < 0.15, "LiSSA B=1, scale auto: no divergence, rel err %.3g vs exact", e);

  /* Determinism across thread counts, and splitting repeats. */
  fi_oracle o3 = make_oracle(&pb, 3, ctxs, ptrs);
  float S1[M * P], S3[M * P];
  opt.lissa.depth = 200;
  opt.lissa.batch = 20;
  opt.lissa.repeats = 5;
  lissa(&o1, &opt, M, V, S1);
  for (int t = 0; t < 3; t++) ctxs[t].calls = 0;
  lissa(&o3, &opt, M, V, S3);
  ok(memcmp(S1, S3, sizeof S1) == 0, "LiSSA bitwise identical with 1 and 3 threads");
  /* Which thread runs which job is the scheduler's: the property is that
   * no context is used by two calls at once, and every step made its call. */
  long calls = ctxs[0].calls + ctxs[1].calls + ctxs[2].calls;
  int shared = atomic_load(&ctxs[0].shared) | atomic_load(&ctxs[1].shared) | atomic_load(&ctxs[2].shared);
  ok(!shared && calls == M * 5 * 200,
     "3 threads: no context used by two calls at once, %ld oracle calls (M x T x J = %d)", calls,
     M * 5 * 200);
  {
    double acc[M * P] = {0};
    fi_solve_opts one = opt;
    one.lissa.repeats = 1;
    for (int rr = 0; rr < 5; rr++) {
      float Sr[M * P];
      one.lissa.repeat_offset = rr;
      lissa(&o3, &one, M, V, Sr);
      for (int k = 0; k < M * P; k++) acc[k] += Sr[k];
    }
    int same = 1;
    for (int k = 0; k < M * P; k++) same &= (float)(acc[k] / 5) == S1[k];
    ok(same, "5 runs of --repeats 1 --repeat-offset r averaged in double == --repeats 5, bitwise");
  }
  {
    fi_solve_opts a = opt;
    float Sa[M * P];
    a.c.seed = 4;
    lissa(&o1, &a, M, V, Sa);
    ok(memcmp(Sa, S1, sizeof Sa) != 0, "a different seed gives a different estimate");
  }

  /* Divergence: scale far below the batch eigenvalues. */
  fi_solve_opts small = opt;
  small.c.scale = estB / 5;
  small.lissa.repeats = 1;
  int st = lissa(&o1, &small, 1, V, S);
  ok(st == FI_SOLVE_DIVERGED && strstr(err.msg, "diverged"), "too-small scale: reported as diverged: %s",
     err.msg);
  {
    /* The settings are checked once, by fi_solve_set_shift. */
    fi_err fe;
    fi_solve_common c = {.scale = 2, .damping = 1.5};
    int bad = fi_solve_set_shift(&fi_solver_lissa, &c, &fe);
    ok(bad && !strcmp(fe.setting, "damping") && fe.kind == FI_ERR_USAGE, "lissa: damping >= 1 is refused (%s)",
       fe.msg);
    c = (fi_solve_common){.scale = 2, .shift = 3, .absolute = 1};
    bad = fi_solve_set_shift(&fi_solver_lissa, &c, &fe);
    ok(bad && !strcmp(fe.setting, "shift"), "lissa: shift >= scale is refused (%s)", fe.msg);
    c = (fi_solve_common){.scale = 4, .shift = 1, .absolute = 1};
    ok(!fi_solve_set_shift(&fi_solver_lissa, &c, &fe) && c.damping == 0.25 && c.shift == 1,
       "lissa: an absolute shift gives damping = shift / scale");
    c = (fi_solve_common){.scale = 0, .shift = 3, .absolute = 1};
    ok(!fi_solve_set_shift(&fi_solver_cg, &c, &fe) && c.shift == 3,
       "cg: any shift >= 0, no scale needed");
    c = (fi_solve_common){.scale = 4, .damping = 0.01};
    ok(!fi_solve_set_shift(&fi_solver_exact, &c, &fe) && c.shift == 0.04, "damping x scale = shift");
  }

  /* Divergence is judged by the recursion's growth, not by a bound: a fixed
   * H whose LiSSA step has one eigenvalue a (the others in [0.1, 0.94]).
   * |a| slightly above 1 diverges slowly (mildly indefinite H beyond the
   * damping, or one eigenvalue just above 2*scale): refused; a = 0.995
   * (indefinite H within the damping) or closer to 1 converges, possibly
   * far above ||v||/damping: accepted, and it is the exact solve. */
  {
    const double d = 0.01;
    struct { double a; int64_t depth; int diverges; const char *what; } cs[] = {
        {1.005, 1000, 1, "spectral radius 1.005 (H indefinite beyond the damping), J=1000"},
        {1.002, 3000, 1, "spectral radius 1.002, J=3000"},
        {-1.01, 1000, 1, "step eigenvalue -1.01 (an eigenvalue just above 2*scale), J=1000"},
        {0.995, 1000, 0, "spectral radius 0.995 (H indefinite within the damping), J=1000"},
        {0.998, 3000, 0, "spectral radius 0.998, J=3000"},
        {0.99995, 200000, 0, "spectral radius 0.99995, J=200000"},
    };
    for (size_t c = 0; c < sizeof cs / sizeof *cs; c++) {
      double lam[P];
      for (int k = 0; k < P - 1; k++) lam[k] = 0.05 + 0.85 * k / (P - 2.0);
      lam[P - 1] = 1 - d - cs[c].a; /* scale 1: a = 1 - d - lambda */
      problem sp = spectrum_problem(P, lam, 11 + c);
      ctx_t sctx[1];
      void *sptr[1];
      fi_oracle os = make_oracle(&sp, 1, sctx, sptr);
      fi_solve_opts so = lissa_opts(cs[c].depth, 1, 1, 1, d, 1);
      st = lissa(&os, &so, 1, V, S);
      if (cs[c].diverges) {
        ok(st == FI_SOLVE_DIVERGED && strstr(err.msg, "diverged"), "refused: %s (%s)", cs[c].what,
           err.msg);
      } else {
        double sref[P];
        direct_solve(&sp, d, V, sref);
        double sn = 0, vn = 0;
        for (int k = 0; k < P; k++) sn += (double)S[k] * S[k], vn += (double)V[k] * V[k];
        ok(st == 0 && rel_err(S, sref, P) < 0.02,
           "accepted: %s; matches the exact solve (rel err %.2g, ||h|| = %.3g ||v||/damping)",
           cs[c].what, rel_err(S, sref, P), sqrt(sn / vn) * d);
      }
      free(sp.Hd);
    }
  }

  /* The same with noisy batches (B=50 of an indefinite H): the mean step's
   * spectral radius 1 +- 0.01 around the damping that makes it 1. */
  {
    problem ind = make_problem(N, P, 0.05, N / 2 + 20, 44);
    ctx_t ictx[1];
    void *iptr[1];
    fi_oracle oi = make_oracle(&ind, 1, ictx, iptr);
    double imin, imax;
    fi_exact_solve_eig(&oi, 0, 4000, 1, V, S, &imin, &imax, &err);
    double iscale = FI_SCALE_SAFETY * fi_top_eigenvalue(&oi, 50, 8, 50, 2);
    for (int div = 1; div >= 0; div--) {
      double d = -imin / iscale + (div ? -0.01 : 0.01);
      fi_solve_opts io = lissa_opts(1000, 200, 32, iscale, d, 9);
      st = lissa(&oi, &io, 1, V, S);
      if (div) {
        ok(st == FI_SOLVE_DIVERGED && strstr(err.msg, "diverged"),
           "noisy batches, mean step radius 1.01: refused (%s)", err.msg);
      } else {
        double iref[P];
        direct_solve(&ind, d * iscale, V, iref);
        ok(st == 0 && rel_err(S, iref, P) < 0.25,
           "noisy batches, mean step radius 0.99: accepted, rel err %.3g vs exact (min eig of H %.3g, "
           "shift %.3g)", rel_err(S, iref, P), imin, d * iscale);
      }
    }
    free(ind.U);
    free(ind.sgn);
  }

  /* Indefinite H: CG reports negative curvature; exact still solves. */
  problem neg = make_problem(N, P, 0.05, N / 2 + 20, 43);
  ctx_t nctx[1];
  void *nptr[1];
  fi_oracle on = make_oracle(&neg, 1, nctx, nptr);
  fi_solve_opts z = lissa_opts(0, 1, 1, 1, 0, 0);
  st = fi_cg_solve(&on, &z, 1, V, S, NULL, NULL, &err);
  ok(st == FI_SOLVE_INDEFINITE && strstr(err.msg, "curvature"),
     "CG on an indefinite H fails with a curvature message (%s)", err.msg);
  double nref[P];
  direct_solve(&neg, 0, V, nref);
  fi_exact_solve_eig(&on, 0, 4000, 1, V, S, &emin, &emax, &err);
  ok(emin < 0 && rel_err(S, nref, P) < 1e-4, "exact solves an indefinite system (min eig %.3g, rel err %.2g)",
     emin, rel_err(S, nref, P));
  /* cg's default ridge: Lanczos finds the ends of the spectrum (P steps
   * here), and the shift it gives makes CG converge on the indefinite H. */
  double lo, hi;
  int steps;
  st = fi_lanczos_extremes(&on, FI_RIDGE_LANCZOS_STEPS, FI_RIDGE_PROBE_SEED, &lo, &hi, &steps, &err);
  ok(st == 0 && fabs(lo - emin) < 1e-4 * (emax - emin) && fabs(hi - emax) < 1e-4 * emax,
     "Lanczos (%d steps) finds the ends of an indefinite spectrum (%.6g .. %.6g vs %.6g .. %.6g)",
     steps, lo, hi, emin, emax);
  fi_solve_opts ar = lissa_opts(0, 1, 1, 0, 0, 5);
  ar.c.auto_ridge = 1;
  ar.cg = (fi_cg_opts){.tol = 1e-6, .max_iter = 300};
  st = fi_solve_auto_ridge(&fi_solver_cg, &on, &ar, &err);
  const double want = -lo + (hi - lo) / (fi_cg_kappa(300, 1e-6) - 1);
  ok(st == 0 && ar.c.absolute && fabs(ar.c.shift - want) < 1e-12 * want,
     "cg's auto shift is -lambda_min + (lambda_max - lambda_min) / (kappa - 1) (%.6g)", ar.c.shift);
  st = fi_cg_solve(&on, &ar, 1, V, S, NULL, &ci, &err);
  direct_solve(&neg, ar.c.shift, V, nref);
  /* relative error <= kappa x relative residual (tol) */
  ok(st == 0 && rel_err(S, nref, P) < fi_cg_kappa(300, 1e-6) * 1e-6,
     "... and CG converges at it (%lld iterations, rel err %.2g)", (long long)ci.iters,
     rel_err(S, nref, P));
  /* A negative definite H (every example's sign -1, a negative l2): the PSD shift -lambda_min
   * makes it solvable; its largest eigenvalue below 0 is no reason to refuse. */
  problem nd = make_problem(N, P, -0.05, N, 44);
  ctx_t ndctx[1];
  void *ndptr[1];
  fi_oracle ond = make_oracle(&nd, 1, ndctx, ndptr);
  ar.c = (fi_solve_common){.auto_ridge = 1};
  st = fi_lanczos_extremes(&ond, FI_RIDGE_LANCZOS_STEPS, FI_RIDGE_PROBE_SEED, &lo, &hi, &steps, &err);
  ok(st == 0 && hi < 0, "Lanczos on a negative definite H: %.6g .. %.6g", lo, hi);
  st = fi_solve_auto_ridge(&fi_solver_cg, &ond, &ar, &err);
  const double wantnd = -lo + (hi - lo) / (fi_cg_kappa(300, 1e-6) - 1);
  ok(st == 0 && fabs(ar.c.shift - wantnd) < 1e-12 * wantnd,
     "cg's auto shift on a negative definite H is -lambda_min + spread / (kappa - 1) (%.6g; %s)",
     ar.c.shift, st ? err.msg : "ok");
  st = fi_cg_solve(&ond, &ar, 1, V, S, NULL, &ci, &err);
  direct_solve(&nd, ar.c.shift, V, nref);
  ok(st == 0 && rel_err(S, nref, P) < fi_cg_kappa(300, 1e-6) * 1e-6,
     "... and CG converges at it (%lld iterations, rel err %.2g)", (long long)ci.iters, rel_err(S, nref, P));
  free(nd.U);
  free(nd.sgn);
  ar.c = (fi_solve_common){.auto_ridge = 1};
  st = fi_solve_auto_ridge(&fi_solver_exact, &on, &ar, &err);
  ok(st == 0 && fabs(ar.c.shift + emin) < 1e-9 * emax && ar.exact.eig,
     "exact's auto shift is -lambda_min (%.6g), its eigendecomposition kept", ar.c.shift);
  fi_exact_eig_free(ar.exact.eig);
  ar.c = (fi_solve_common){.auto_ridge = 1};
  ar.exact.eig = NULL;
  st = fi_solve_auto_ridge(&fi_solver_exact, &o1, &ar, &err);
  ok(st == 0 && ar.c.shift == 0, "... and 0 on a positive definite H");
  fi_exact_eig_free(ar.exact.eig);
  ar.c = (fi_solve_common){.auto_ridge = 1};
  st = fi_solve_auto_ridge(&fi_solver_lissa, &o1, &ar, &err);
  ok(st == 0 && !ar.c.absolute && ar.c.damping == FI_LISSA_DAMPING, "lissa's auto damping is %g", FI_LISSA_DAMPING);
  st = fi_exact_solve_eig(&o1, 0, 10, 1, V, S, NULL, NULL, &err);
  ok(st == FI_SOLVE_TOO_LARGE && strstr(err.msg, "exceed"), "exact refuses P above its limit (%s)", err.msg);
  free(pb.U);
  free(pb.sgn);
  free(neg.U);
  free(neg.sgn);
  return done_testing();
}
