/* lissa.c - LiSSA, CG and exact inverse-HVP solvers over an HVP oracle
 * (lissa.h, formats/ihvp.md). */
#include "lissa.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Divergence bound: with 0 <= H_B <= scale*I every step is a contraction by
 * (1 - damping), so ||h_j|| <= ||v|| * min(1/damping, j+1). Mildly indefinite
 * batch Hessians (non-convex models) exceed that a little; a blow-up from a
 * too-small scale exceeds it geometrically. The slack separates the two. */
#define LISSA_SLACK 100.0

/* ---- a tiny job pool: jobs [0, njobs) pulled by nthreads threads ---- */
typedef void (*job_fn)(void *arg, int thread, int64_t job);
struct pool_shared {
  job_fn fn;
  void *arg;
  int64_t njobs;
  atomic_llong next;
};
typedef struct {
  struct pool_shared *sh;
  int thread;
} pool_arg;

static void *pool_main(void *p) {
  pool_arg *a = p;
  for (;;) {
    long long j = atomic_fetch_add(&a->sh->next, 1);
    if (j >= a->sh->njobs) break;
    a->sh->fn(a->sh->arg, a->thread, j);
  }
  return NULL;
}

static void run_jobs(int nthreads, int64_t njobs, job_fn fn, void *arg) {
  struct pool_shared sh = {.fn = fn, .arg = arg, .njobs = njobs};
  atomic_init(&sh.next, 0);
  if (nthreads > njobs) nthreads = (int)(njobs > 0 ? njobs : 1);
  if (nthreads <= 1) {
    pool_arg a = {&sh, 0};
    pool_main(&a);
    return;
  }
  pthread_t *th = fi_calloc(nthreads, sizeof *th);
  pool_arg *args = fi_calloc(nthreads, sizeof *args);
  for (int t = 0; t < nthreads; t++) {
    args[t].sh = &sh;
    args[t].thread = t;
    if (t > 0 && pthread_create(&th[t], NULL, pool_main, &args[t]) != 0)
      fi_die("cannot create thread %d", t);
  }
  pool_main(&args[0]);
  for (int t = 1; t < nthreads; t++) pthread_join(th[t], NULL);
  free(th);
  free(args);
}

uint64_t fi_lissa_repeat_seed(uint64_t seed, int64_t r) {
  /* splitmix64 finaliser of (seed, r): distinct, well-mixed streams. */
  uint64_t z = seed ^ (0x9e3779b97f4a7c15ULL * ((uint64_t)r + 1));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static double norm2f(const float *x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
  return sqrt(s);
}

static void draw_batch(fi_rng *rng, int64_t N, int64_t B, int64_t *idx) {
  /* Uniform with replacement: each step is an unbiased sample of H. */
  for (int64_t b = 0; b < B; b++) idx[b] = (int64_t)fi_rng_below(rng, (uint64_t)N);
}

int64_t fi_lissa_repeat(const fi_oracle *o, int thread, const fi_lissa_opts *opt,
                        int64_t r, const float *v, float *s, float *ws,
                        int64_t *idxbuf, double *hnorm) {
  const int64_t P = o->P;
  float *h = ws, *Hv = ws + P;
  fi_rng rng;
  fi_rng_seed(&rng, fi_lissa_repeat_seed(opt->seed, r));
  const float keep = (float)(1.0 - opt->damping), inv_scale = (float)(1.0 / opt->scale);
  const double vnorm = norm2f(v, P);
  const double cap = opt->damping > 0 ? 1.0 / opt->damping : INFINITY;
  memcpy(h, v, P * sizeof *h);
  double hn = vnorm;
  int64_t fail = 0;
  for (int64_t j = 1; j <= opt->depth; j++) {
    draw_batch(&rng, o->N, opt->batch, idxbuf);
    o->hvp(o->ctx[thread], idxbuf, opt->batch, h, Hv);
    double ss = 0;
    for (int64_t k = 0; k < P; k++) {
      float x = v[k] + keep * h[k] - Hv[k] * inv_scale;
      h[k] = x;
      ss += (double)x * x;
    }
    hn = sqrt(ss);
    double bound = LISSA_SLACK * vnorm * fmin(cap, (double)(j + 1));
    if (!isfinite(hn) || hn > bound) {
      fail = j;
      break;
    }
  }
  if (hnorm) *hnorm = hn;
  if (fail) return fail;
  for (int64_t k = 0; k < P; k++) s[k] = h[k] * inv_scale;
  return 0;
}

typedef struct {
  const fi_oracle *o;
  const fi_lissa_opts *opt;
  const float *V;
  float *R;           /* [m*T, P] per-job results */
  float **ws;         /* per thread */
  int64_t **idx;      /* per thread */
  int64_t *fail;      /* per job: 0 or the failing step */
  double *fnorm;
} lissa_job;

static void lissa_job_run(void *arg, int thread, int64_t job) {
  lissa_job *L = arg;
  const int64_t P = L->o->P, T = L->opt->repeats;
  int64_t i = job / T, r = job % T;
  L->fail[job] = fi_lissa_repeat(L->o, thread, L->opt, L->opt->repeat_offset + r,
                                 L->V + i * P, L->R + job * P, L->ws[thread],
                                 L->idx[thread], &L->fnorm[job]);
}

void fi_lissa_solve(const fi_oracle *o, const fi_lissa_opts *opt, int64_t m,
                    const float *V, float *S) {
  const int64_t P = o->P, T = opt->repeats;
  if (T < 1 || opt->depth < 0 || opt->batch < 1 || !(opt->scale > 0) || opt->damping < 0 ||
      opt->damping >= 1)
    fi_die("LiSSA: bad settings (repeats %lld, depth %lld, batch %lld, scale %g, damping %g)",
           (long long)T, (long long)opt->depth, (long long)opt->batch, opt->scale, opt->damping);
  if (o->N < 1) fi_die("LiSSA: empty training set");
  int nt = o->nthreads < 1 ? 1 : o->nthreads;
  lissa_job L = {.o = o, .opt = opt, .V = V};
  L.R = fi_aligned(fi_mul_size(m * T, P, "LiSSA results"), sizeof(float));
  L.ws = fi_calloc(nt, sizeof *L.ws);
  L.idx = fi_calloc(nt, sizeof *L.idx);
  for (int t = 0; t < nt; t++) {
    L.ws[t] = fi_aligned(fi_mul_size(2, P, "LiSSA workspace"), sizeof(float));
    L.idx[t] = fi_malloc(fi_mul_size(opt->batch, sizeof(int64_t), "LiSSA batch"));
  }
  L.fail = fi_calloc(m * T, sizeof *L.fail);
  L.fnorm = fi_calloc(m * T, sizeof *L.fnorm);
  run_jobs(nt, m * T, lissa_job_run, &L);
  for (int64_t job = 0; job < m * T; job++)
    if (L.fail[job])
      fi_die("LiSSA diverged at step %lld of repeat %lld (||h|| = %.3g, bound %g*||v||*min(1/damping, "
             "step+1)): increase --scale (now %g; --scale auto estimates the batch Hessians' top "
             "eigenvalue) or --damping (now %g)",
             (long long)L.fail[job], (long long)(opt->repeat_offset + job % T), L.fnorm[job],
             LISSA_SLACK, opt->scale, opt->damping);
  /* Average in repeat order, in double: independent of threads and of how
   * repeats were split across processes (ihvp --combine). */
  double *acc = fi_malloc(fi_mul_size(P, sizeof(double), "LiSSA sum"));
  for (int64_t i = 0; i < m; i++) {
    memset(acc, 0, P * sizeof *acc);
    for (int64_t r = 0; r < T; r++) {
      const float *x = L.R + (i * T + r) * P;
      for (int64_t k = 0; k < P; k++) acc[k] += x[k];
    }
    for (int64_t k = 0; k < P; k++) S[i * P + k] = (float)(acc[k] / (double)T);
  }
  free(acc);
  for (int t = 0; t < nt; t++) {
    free(L.ws[t]);
    free(L.idx[t]);
  }
  free(L.ws);
  free(L.idx);
  free(L.fail);
  free(L.fnorm);
  free(L.R);
}

/* ---- power iteration for --scale auto ---- */
typedef struct {
  const fi_oracle *o;
  int64_t batch;
  int iters;
  uint64_t seed;
  float **ws;
  int64_t **idx;
  double *eig;
} power_job;

static void power_job_run(void *arg, int thread, int64_t job) {
  power_job *J = arg;
  const int64_t P = J->o->P;
  float *x = J->ws[thread], *y = x + P;
  fi_rng rng;
  fi_rng_seed(&rng, fi_lissa_repeat_seed(J->seed ^ 0x5ca1ab1e5ca1ab1eULL, job));
  draw_batch(&rng, J->o->N, J->batch, J->idx[thread]);
  for (int64_t k = 0; k < P; k++) x[k] = (float)fi_rng_normal(&rng);
  double n = norm2f(x, P), lam = 0;
  for (int it = 0; it < J->iters && n > 0; it++) {
    for (int64_t k = 0; k < P; k++) x[k] = (float)(x[k] / n);
    J->o->hvp(J->o->ctx[thread], J->idx[thread], J->batch, x, y);
    n = norm2f(y, P); /* = ||H x|| for unit x: <= |lambda_max| */
    if (!isfinite(n)) fi_die("power iteration: the HVP returned non-finite values");
    if (n > lam) lam = n;
    float *t = x;
    x = y;
    y = t;
  }
  J->eig[job] = lam;
}

double fi_top_eigenvalue(const fi_oracle *o, int64_t batch, int nbatches, int iters,
                         uint64_t seed) {
  const int64_t P = o->P;
  int nt = o->nthreads < 1 ? 1 : o->nthreads;
  if (batch > o->N) batch = o->N;
  power_job J = {.o = o, .batch = batch, .iters = iters, .seed = seed};
  J.ws = fi_calloc(nt, sizeof *J.ws);
  J.idx = fi_calloc(nt, sizeof *J.idx);
  for (int t = 0; t < nt; t++) {
    J.ws[t] = fi_aligned(fi_mul_size(2, P, "power iteration"), sizeof(float));
    J.idx[t] = fi_malloc(fi_mul_size(batch, sizeof(int64_t), "power batch"));
  }
  J.eig = fi_calloc(nbatches, sizeof *J.eig);
  run_jobs(nt, nbatches, power_job_run, &J);
  double best = 0;
  for (int b = 0; b < nbatches; b++)
    if (J.eig[b] > best) best = J.eig[b];
  for (int t = 0; t < nt; t++) {
    free(J.ws[t]);
    free(J.idx[t]);
  }
  free(J.ws);
  free(J.idx);
  free(J.eig);
  return best;
}

double fi_lissa_auto_scale(const fi_oracle *o, int64_t batch, int nbatches, int iters,
                           uint64_t seed) {
  double t0 = fi_now();
  double top = fi_top_eigenvalue(o, batch, nbatches, iters, seed);
  if (!(top > 0)) fi_die("--scale auto: the batch Hessians look zero (top eigenvalue %g)", top);
  double scale = FI_SCALE_SAFETY * top;
  fi_log("scale auto: largest batch-Hessian eigenvalue found %.6g (%d batches of %lld, %.2fs) -> scale %.6g",
         top, nbatches, (long long)batch, fi_now() - t0, scale);
  return scale;
}

/* ---- conjugate gradients ---- */
typedef struct {
  const fi_oracle *o;
  double shift, tol;
  int64_t max_iter;
  const float *V;
  float *S;
  float **fws;
  double **dws;
  int64_t *iters;
  int *status;        /* 0 ok, 1 negative curvature, 2 no convergence */
  double *info;       /* curvature or residual at failure */
} cg_job;

static void cg_job_run(void *arg, int thread, int64_t job) {
  cg_job *C = arg;
  const int64_t P = C->o->P;
  const float *v = C->V + job * P;
  float *pf = C->fws[thread], *Apf = pf + P;
  double *x = C->dws[thread], *r = x + P, *p = r + P;
  double rr = 0;
  for (int64_t k = 0; k < P; k++) {
    x[k] = 0;
    r[k] = p[k] = v[k];
    rr += (double)v[k] * v[k];
  }
  const double stop = C->tol * sqrt(rr);
  int64_t it = 0;
  C->status[job] = 0;
  while (sqrt(rr) > stop) {
    if (it >= C->max_iter) {
      C->status[job] = 2;
      C->info[job] = sqrt(rr) / (stop / C->tol);
      break;
    }
    it++;
    for (int64_t k = 0; k < P; k++) pf[k] = (float)p[k];
    C->o->hvp(C->o->ctx[thread], NULL, C->o->N, pf, Apf);
    double pAp = 0, pp = 0;
    for (int64_t k = 0; k < P; k++) {
      pAp += p[k] * ((double)Apf[k] + C->shift * p[k]);
      pp += p[k] * p[k];
    }
    if (!(pAp > 0)) {
      C->status[job] = 1;
      C->info[job] = pAp / pp;
      break;
    }
    double alpha = rr / pAp, rr2 = 0;
    for (int64_t k = 0; k < P; k++) {
      x[k] += alpha * p[k];
      r[k] -= alpha * ((double)Apf[k] + C->shift * p[k]);
      rr2 += r[k] * r[k];
    }
    double beta = rr2 / rr;
    rr = rr2;
    for (int64_t k = 0; k < P; k++) p[k] = r[k] + beta * p[k];
  }
  C->iters[job] = it;
  float *s = C->S + job * P;
  for (int64_t k = 0; k < P; k++) s[k] = (float)x[k];
}

void fi_cg_solve(const fi_oracle *o, double shift, double tol, int64_t max_iter, int64_t m,
                 const float *V, float *S, int64_t *iters_out) {
  const int64_t P = o->P;
  int nt = o->nthreads < 1 ? 1 : o->nthreads;
  cg_job C = {.o = o, .shift = shift, .tol = tol, .max_iter = max_iter, .V = V, .S = S};
  C.fws = fi_calloc(nt, sizeof *C.fws);
  C.dws = fi_calloc(nt, sizeof *C.dws);
  for (int t = 0; t < nt; t++) {
    C.fws[t] = fi_aligned(fi_mul_size(2, P, "CG workspace"), sizeof(float));
    C.dws[t] = fi_aligned(fi_mul_size(3, P, "CG workspace"), sizeof(double));
  }
  C.iters = fi_calloc(m, sizeof *C.iters);
  C.status = fi_calloc(m, sizeof *C.status);
  C.info = fi_calloc(m, sizeof *C.info);
  run_jobs(nt, m, cg_job_run, &C);
  int64_t maxit = 0;
  for (int64_t i = 0; i < m; i++) {
    if (C.status[i] == 1)
      fi_die("CG: H + shift*I has non-positive curvature %.3g along a search direction (shift "
             "%g): H is indefinite here; increase --damping (or --scale), or use --method exact",
             C.info[i], shift);
    if (C.status[i] == 2)
      fi_die("CG: relative residual %.3g after --max-iter %lld iterations is above --tol %g: "
             "raise --max-iter or --tol, or add --damping",
             C.info[i], (long long)max_iter, tol);
    if (C.iters[i] > maxit) maxit = C.iters[i];
  }
  if (iters_out) *iters_out = maxit;
  for (int t = 0; t < nt; t++) {
    free(C.fws[t]);
    free(C.dws[t]);
  }
  free(C.fws);
  free(C.dws);
  free(C.iters);
  free(C.status);
  free(C.info);
}

/* ---- dense Hessian and exact solve ---- */
typedef struct {
  const fi_oracle *o;
  double *H;
  float **fws;
} dense_job;

static void dense_job_run(void *arg, int thread, int64_t c) {
  dense_job *D = arg;
  const int64_t P = D->o->P;
  float *e = D->fws[thread], *He = e + P;
  memset(e, 0, P * sizeof *e);
  e[c] = 1;
  D->o->hvp(D->o->ctx[thread], NULL, D->o->N, e, He);
  double *row = D->H + c * P; /* column c of H, stored as row c; symmetrised below */
  for (int64_t k = 0; k < P; k++) row[k] = He[k];
}

double *fi_dense_hessian(const fi_oracle *o) {
  const int64_t P = o->P;
  int nt = o->nthreads < 1 ? 1 : o->nthreads;
  dense_job D = {.o = o};
  D.H = fi_aligned(fi_mul_size(P, P, "dense Hessian"), sizeof(double));
  D.fws = fi_calloc(nt, sizeof *D.fws);
  for (int t = 0; t < nt; t++) D.fws[t] = fi_aligned(fi_mul_size(2, P, "dense Hessian"), sizeof(float));
  run_jobs(nt, P, dense_job_run, &D);
  for (int64_t i = 0; i < P; i++)
    for (int64_t j = i + 1; j < P; j++) {
      double a = 0.5 * (D.H[i * P + j] + D.H[j * P + i]);
      D.H[i * P + j] = D.H[j * P + i] = a;
    }
  for (int t = 0; t < nt; t++) free(D.fws[t]);
  free(D.fws);
  return D.H;
}

void fi_exact_solve(const fi_oracle *o, double shift, int64_t max_p, int64_t m, const float *V,
                    float *S, double *eig_min, double *eig_max) {
  const int64_t P = o->P;
  if (P > max_p)
    fi_die("exact: %lld parameters exceed --max-exact %lld (the dense Hessian needs %.3g GB): "
           "use --method cg or lissa, select fewer --params, or raise --max-exact",
           (long long)P, (long long)max_p, (double)P * P * 8 / 1e9);
  double *A = fi_dense_hessian(o);
  double *w = fi_malloc(fi_mul_size(P, sizeof(double), "eigenvalues"));
  lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)P, A, (lapack_int)P, w);
  if (info != 0) fi_die("exact: LAPACK dsyevd failed (info %d)", (int)info);
  if (eig_min) *eig_min = w[0];
  if (eig_max) *eig_max = w[P - 1];
  /* Eigenvalues of H + shift*I. H comes from float HVPs (relative error
   * ~1e-7), so eigenvalues within FI_EXACT_RCOND of the largest are zero
   * to working precision: they get no inverse (pseudo-inverse, the
   * minimum-norm solution CG also reaches). Softmax regression has such a
   * null direction: adding a constant to every class's bias. */
  double big = 0;
  for (int64_t i = 0; i < P; i++) big = fmax(big, fabs(w[i] + shift));
  if (big == 0) fi_die("exact: H + shift*I is zero");
  int64_t nneg = 0, nnull = 0;
  double lneg = 0;
  for (int64_t i = 0; i < P; i++) {
    double l = w[i] + shift;
    if (fabs(l) <= FI_EXACT_RCOND * big) {
      w[i] = INFINITY; /* 1/inf = 0 below */
      nnull++;
    } else if (l < 0) {
      if (!nneg) lneg = l;
      nneg++;
    }
  }
  if (nnull)
    fi_log("exact: %lld eigenvalue(s) of H + shift*I within %g of the largest (%.3g) treated as "
           "zero (pseudo-inverse); add --damping to regularise them instead",
           (long long)nnull, FI_EXACT_RCOND, big);
  if (nneg)
    fi_log("exact: H + shift*I has %lld negative eigenvalue(s) (smallest %.3g): the solve is "
           "exact but LiSSA/CG would not converge to it",
           (long long)nneg, lneg);
  double *c = fi_malloc(fi_mul_size(P, sizeof(double), "exact solve")),
         *x = fi_malloc(fi_mul_size(P, sizeof(double), "exact solve")),
         *vd = fi_malloc(fi_mul_size(P, sizeof(double), "exact solve"));
  for (int64_t i = 0; i < m; i++) {
    for (int64_t k = 0; k < P; k++) vd[k] = V[i * P + k];
    /* x = Q diag(1/(w+shift)) Q^T v; Q's columns are the eigenvectors. */
    cblas_dgemv(CblasRowMajor, CblasTrans, P, P, 1.0, A, P, vd, 1, 0.0, c, 1);
    for (int64_t k = 0; k < P; k++) c[k] /= (w[k] + shift);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, P, P, 1.0, A, P, c, 1, 0.0, x, 1);
    for (int64_t k = 0; k < P; k++) S[i * P + k] = (float)x[k];
  }
  free(c);
  free(x);
  free(vd);
  free(w);
  free(A);
}
