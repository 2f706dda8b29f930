/* lissa.c - LiSSA, CG and exact inverse-HVP solvers over an HVP oracle
 * (lissa.h, formats/ihvp.md). */
#include "lissa.h"

#include <cblas.h>
#include <lapacke.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "util.h"

/* Divergence test (formats/ihvp.md). With 0 <= H_B <= scale*I every step
 * contracts by (1 - damping), so a stable recursion's iterate grows at most
 * linearly, ||h_j|| <= ||v|| (j + 1), on its way to the fixed point, where it
 * settles (mildly indefinite batches add bursts that die out again); so do
 * its steps h_j - h_{j-1} (they shrink, up to the batch noise, which is
 * proportional to ||h||). A diverging recursion grows geometrically,
 * however slowly, and no fixed bound separates the two (a convergent
 * indefinite case may settle far above ||v|| / damping). So the recursion is
 * judged by its own growth: the mean of log ||h_j|| (and of log ||h_j -
 * h_{j-1}||) over the last w steps against the mean over the w steps before,
 * less what linear growth gives (the same means of log(j + 1)), at every
 * scale w = k/4, k/8, .. down to LISSA_WMIN steps. An excess above
 * LISSA_END_GROWTH (iterate) or LISSA_END_STEP (steps: noisier, but an
 * unstable direction shows there first, above a settled iterate) at the
 * end, or above LISSA_ANY_GROWTH at one of LISSA_CHECKS checkpoints on the
 * way, is a divergence. The figures behind these limits are in
 * formats/ihvp.md. */
#define LISSA_WMIN 8
#define LISSA_END_GROWTH 0.6931471805599453 /* log 2 */
#define LISSA_END_STEP 1.3862943611198906   /* log 4 */
#define LISSA_ANY_GROWTH 3.4011973816621555 /* log 30 */
#define LISSA_CHECKS 16
/* log ||h_j|| is summed at a resolution of ceil(depth / LISSA_TRACK) steps. */
#define LISSA_TRACK 4096
/* Jobs (vector, repeat) held in memory at once, per thread. */
#define LISSA_WAVE 8

/* Largest growth excess (log scale) of the recursion after k positions of
 * Q (sums of log ||h|| per res steps) over Lq (the same of log(j + 1));
 * *window gets the window (steps) where it is largest. */
static double growth_excess(const double *Q, const double *Lq, int64_t k, int64_t res,
                            int64_t *window) {
  double best = -INFINITY;
  for (int64_t w = k / 4; w > 0 && w * res >= LISSA_WMIN; w /= 2) {
    double last = (Q[k] - Q[k - w]) - (Lq[k] - Lq[k - w]);
    double prev = (Q[k - w] - Q[k - 2 * w]) - (Lq[k - w] - Lq[k - 2 * w]);
    double e = (last - prev) / (double)(w * res);
    if (e > best) {
      best = e;
      *window = w * res;
    }
  }
  return best;
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

/* Why a repeat stopped (step 0: it did not). */
typedef struct {
  int64_t step;     /* 1-based step at which the recursion was judged diverged */
  double hnorm;     /* ||h|| there */
  double growth;    /* the growth beyond linear (a factor; inf when not finite) */
  int64_t window;   /* over this many steps */
  int steps;        /* the steps' norm grew, not the iterate's */
  int hvp;          /* the batch's HVP was not finite for a moderate h */
} lissa_fail;

/* Per-thread memory of a repeat: the allocation-free inner loop. */
typedef struct {
  float *h, *Hv;    /* [P] each */
  double *acc;      /* [P]: batches larger than N are summed in pieces of N */
  int64_t *idx;     /* [min(batch, N)] */
  double *Q, *Qs;   /* [npos + 1] sums of log ||h|| and of log ||step|| (growth_excess) */
} lissa_ws;

typedef struct {
  const fi_oracle *o;
  const fi_lissa_opts *opt;
  int64_t piece;        /* indices drawn per oracle call: min(batch, N) */
  int64_t res, npos;    /* growth tracking: res steps per position, npos positions */
  double *Lq;           /* [npos + 1] sums of log(j + 1) up to each position, shared */
} lissa_plan;

/* H_B h for a fresh batch of opt->batch draws: one oracle call, or (batch >
 * N) pieces of N draws weighted n/batch, so memory follows the data. The
 * draws are the same sequence either way. */
static void batch_hvp(const lissa_plan *pl, int thread, fi_rng *rng, lissa_ws *w) {
  const fi_oracle *o = pl->o;
  const int64_t B = pl->opt->batch, P = o->P;
  if (pl->piece == B) {
    draw_batch(rng, o->N, B, w->idx);
    o->apply(o->ctx[thread], w->idx, B, w->h, w->Hv);
    return;
  }
  memset(w->acc, 0, P * sizeof *w->acc);
  for (int64_t done = 0; done < B;) {
    int64_t n = B - done < pl->piece ? B - done : pl->piece;
    draw_batch(rng, o->N, n, w->idx);
    o->apply(o->ctx[thread], w->idx, n, w->h, w->Hv);
    double wt = (double)n / (double)B;
    for (int64_t k = 0; k < P; k++) w->acc[k] += wt * w->Hv[k];
    done += n;
  }
  for (int64_t k = 0; k < P; k++) w->Hv[k] = (float)w->acc[k];
}

/* One repeat (index r) for v into s [P]. Returns 0, or fills *f and
 * returns its step when the recursion diverged. */
static int64_t lissa_repeat(const lissa_plan *pl, int thread, int64_t r, const float *v,
                            float *s, lissa_ws *w, lissa_fail *f) {
  const fi_oracle *o = pl->o;
  const fi_lissa_opts *opt = pl->opt;
  const int64_t P = o->P;
  float *h = w->h;
  fi_rng rng;
  fi_rng_seed(&rng, fi_lissa_repeat_seed(opt->seed, r));
  const float keep = (float)(1.0 - opt->damping), inv_scale = (float)(1.0 / opt->scale);
  const int64_t every = pl->npos / LISSA_CHECKS > 0 ? pl->npos / LISSA_CHECKS : 1;
  memcpy(h, v, P * sizeof *h);
  double logh = 0, logs = 0, hprev = norm2f(v, P);
  w->Q[0] = w->Qs[0] = 0;
  memset(f, 0, sizeof *f);
  for (int64_t j = 1; j <= opt->depth; j++) {
    batch_hvp(pl, thread, &rng, w);
    double ss = 0, dd = 0;
    for (int64_t k = 0; k < P; k++) {
      float x = v[k] + keep * h[k] - w->Hv[k] * inv_scale, dx = x - h[k];
      h[k] = x;
      ss += (double)x * x;
      dd += (double)dx * dx;
    }
    double hn = sqrt(ss);
    if (!isfinite(hn)) {
      /* From a moderate iterate, only an overflowing model makes H_B h infinite. */
      int hvp = 0;
      for (int64_t k = 0; k < P; k++) hvp |= !isfinite(w->Hv[k]);
      *f = (lissa_fail){.step = j, .hnorm = hn, .growth = INFINITY, .window = j,
                        .hvp = hvp && hprev < 1e15};
      return j;
    }
    hprev = hn;
    logh += log(fmax(hn, DBL_MIN));
    logs += log(fmax(sqrt(dd), DBL_MIN));
    if (j % pl->res) continue;
    int64_t pos = j / pl->res;
    if (pos > pl->npos) continue;
    w->Q[pos] = logh;
    w->Qs[pos] = logs;
    if (pos % every && pos != pl->npos) continue;
    const int end = pos == pl->npos;
    int64_t win = 0, wins = 0;
    double e = growth_excess(w->Q, pl->Lq, pos, pl->res, &win);
    double es = growth_excess(w->Qs, pl->Lq, pos, pl->res, &wins);
    int bad = e > (end ? LISSA_END_GROWTH : LISSA_ANY_GROWTH),
        bads = es > (end ? LISSA_END_STEP : LISSA_ANY_GROWTH);
    if (bad || bads) {
      int st = !bad;
      *f = (lissa_fail){.step = j, .hnorm = hn, .growth = exp(st ? es : e),
                        .window = st ? wins : win, .steps = st};
      return j;
    }
  }
  for (int64_t k = 0; k < P; k++) s[k] = h[k] * inv_scale;
  return 0;
}

typedef struct {
  const lissa_plan *pl;
  const float *V;
  int64_t j0;         /* first job of this wave */
  float *R;           /* [wave, P] per-job results */
  lissa_ws *ws;       /* per thread */
  lissa_fail *fail;   /* per job of the wave */
} lissa_job;

static void lissa_job_run(void *arg, int thread, int64_t k) {
  lissa_job *L = arg;
  const int64_t P = L->pl->o->P, T = L->pl->opt->repeats, job = L->j0 + k;
  int64_t i = job / T, r = job % T;
  lissa_repeat(L->pl, thread, L->pl->opt->repeat_offset + r, L->V + i * P, L->R + k * P,
               &L->ws[thread], &L->fail[k]);
}

void fi_lissa_solve(const fi_oracle *o, const fi_lissa_opts *opt, int64_t m, const float *V,
                    float *S, const char *const *ids) {
  const int64_t P = o->P, T = opt->repeats;
  if (T < 1 || opt->depth < 0 || opt->batch < 1 || !(opt->scale > 0) || opt->damping < 0 ||
      opt->damping >= 1)
    fi_die("LiSSA: bad settings (repeats %lld, depth %lld, batch %lld, scale %g, damping %g)",
           (long long)T, (long long)opt->depth, (long long)opt->batch, opt->scale, opt->damping);
  if (o->N < 1) fi_die("LiSSA: empty training set");
  int nt = o->nthreads < 1 ? 1 : o->nthreads;
  lissa_plan pl = {.o = o, .opt = opt, .piece = opt->batch < o->N ? opt->batch : o->N};
  pl.res = (opt->depth + LISSA_TRACK - 1) / LISSA_TRACK;
  if (pl.res < 1) pl.res = 1;
  pl.npos = opt->depth / pl.res;
  pl.Lq = fi_malloc(fi_mul_size(pl.npos + 1, sizeof *pl.Lq, "LiSSA growth"));
  pl.Lq[0] = 0;
  for (int64_t i = 1, j = 1; i <= pl.npos; i++) {
    double acc = pl.Lq[i - 1];
    for (; j <= i * pl.res; j++) acc += log((double)(j + 1));
    pl.Lq[i] = acc;
  }
  const int64_t njobs = m * T;
  const int64_t wave = njobs < (int64_t)nt * LISSA_WAVE ? njobs : (int64_t)nt * LISSA_WAVE;
  lissa_job L = {.pl = &pl, .V = V};
  L.R = fi_aligned(fi_mul_size(wave ? wave : 1, P, "LiSSA results"), sizeof(float));
  L.ws = fi_calloc(nt, sizeof *L.ws);
  for (int t = 0; t < nt; t++) {
    lissa_ws *w = &L.ws[t];
    w->h = fi_aligned(P, sizeof(float));
    w->Hv = fi_aligned(P, sizeof(float));
    if (pl.piece < opt->batch) w->acc = fi_malloc(fi_mul_size(P, sizeof(double), "LiSSA batch sum"));
    w->idx = fi_malloc(fi_mul_size(pl.piece, sizeof(int64_t), "LiSSA batch"));
    w->Q = fi_malloc(fi_mul_size(pl.npos + 1, sizeof(double), "LiSSA growth"));
    w->Qs = fi_malloc(fi_mul_size(pl.npos + 1, sizeof(double), "LiSSA growth"));
  }
  L.fail = fi_calloc(wave ? wave : 1, sizeof *L.fail);
  /* Waves of jobs in (vector, repeat) order; each vector's repeats are
   * summed in double in repeat order as they come: independent of threads
   * and of how repeats were split across processes (ihvp --combine). */
  double *acc = fi_calloc(P, sizeof(double));
  for (int64_t j0 = 0; j0 < njobs; j0 += wave) {
    int64_t nw = njobs - j0 < wave ? njobs - j0 : wave;
    L.j0 = j0;
    fi_pool_run(nt, nw, lissa_job_run, &L);
    for (int64_t k = 0; k < nw; k++) {
      const lissa_fail *f = &L.fail[k];
      int64_t i = (j0 + k) / T, r = (j0 + k) % T;
      if (f->step) {
        char name[128];
        if (ids) snprintf(name, sizeof name, "record '%.80s'", ids[i]);
        else snprintf(name, sizeof name, "vector %lld", (long long)i);
        if (f->hvp)
          fi_die("%s: LiSSA step %lld of repeat %lld: the Hessian-vector product of a training "
                 "batch is not finite (the model overflows on the training data: check the "
                 "inputs' scale and the model's weights)",
                 name, (long long)f->step, (long long)(opt->repeat_offset + r));
        if (!isfinite(f->hnorm))
          fi_die("%s: LiSSA diverged in repeat %lld: ||h|| is not finite at step %lld: "
                 "increase --scale (now %g; --scale auto estimates the batch Hessians' top "
                 "eigenvalue) or --damping (now %g)",
                 name, (long long)(opt->repeat_offset + r), (long long)f->step, opt->scale,
                 opt->damping);
        fi_die("%s: LiSSA diverged in repeat %lld: over steps %lld..%lld %s grew %.3g times "
               "faster than a converging recursion's (at most linear) growth (||h|| = %.3g at "
               "step %lld): increase --scale (now %g; --scale auto estimates the batch Hessians' "
               "top eigenvalue) or --damping (now %g)",
               name, (long long)(opt->repeat_offset + r), (long long)(f->step - f->window),
               (long long)f->step, f->steps ? "the step h_j - h_j-1" : "||h||", f->growth,
               f->hnorm, (long long)f->step, opt->scale, opt->damping);
      }
      const float *x = L.R + k * P;
      for (int64_t q = 0; q < P; q++) acc[q] += x[q];
      if (r == T - 1) {
        for (int64_t q = 0; q < P; q++) S[i * P + q] = (float)(acc[q] / (double)T);
        memset(acc, 0, P * sizeof *acc);
      }
    }
  }
  free(acc);
  for (int t = 0; t < nt; t++) {
    free(L.ws[t].h);
    free(L.ws[t].Hv);
    free(L.ws[t].acc);
    free(L.ws[t].idx);
    free(L.ws[t].Q);
    free(L.ws[t].Qs);
  }
  free(L.ws);
  free(L.fail);
  free(L.R);
  free(pl.Lq);
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
    J->o->apply(J->o->ctx[thread], J->idx[thread], J->batch, x, y);
    n = norm2f(y, P); /* = ||H x|| for unit x: <= |lambda_max| */
    if (!isfinite(n))
      fi_die("--scale auto: the Hessian-vector product of a training batch is not finite (the "
             "model overflows on the training data: check the inputs' scale and the model's "
             "weights)");
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
  fi_pool_run(nt, nbatches, power_job_run, &J);
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
  int *status;        /* 0 ok, 1 negative curvature, 2 no convergence, 3 non-finite HVP */
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
    C->o->apply(C->o->ctx[thread], NULL, C->o->N, pf, Apf);
    double pAp = 0, pp = 0;
    for (int64_t k = 0; k < P; k++) {
      pAp += p[k] * ((double)Apf[k] + C->shift * p[k]);
      pp += p[k] * p[k];
    }
    if (!isfinite(pAp)) {
      C->status[job] = 3;
      break;
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
  fi_pool_run(nt, m, cg_job_run, &C);
  int64_t maxit = 0;
  for (int64_t i = 0; i < m; i++) {
    if (C.status[i] == 1)
      fi_die("CG: H + shift*I has non-positive curvature %.3g along a search direction (shift "
             "%g): H is indefinite here; increase --damping (or --scale), or use --method exact",
             C.info[i], shift);
    if (C.status[i] == 3)
      fi_die("CG: the Hessian-vector product is not finite (the model overflows on the "
             "training data: check the inputs' scale and the model's weights)");
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
  D->o->apply(D->o->ctx[thread], NULL, D->o->N, e, He);
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
  fi_pool_run(nt, P, dense_job_run, &D);
  for (int64_t i = 0; i < P; i++)
    for (int64_t j = i + 1; j < P; j++) {
      double a = 0.5 * (D.H[i * P + j] + D.H[j * P + i]);
      D.H[i * P + j] = D.H[j * P + i] = a;
    }
  for (int t = 0; t < nt; t++) free(D.fws[t]);
  free(D.fws);
  for (int64_t i = 0; i < P * P; i++)
    if (!isfinite(D.H[i]))
      fi_die("the Hessian has non-finite entries (the model overflows on the training data: "
             "check the inputs' scale and the model's weights)");
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
