/* solve_lissa.c - FastIF's LiSSA over an oracle (solve.h, formats/ihvp.md):
 * h_0 = v, h_j = v + (1 - damping) h_{j-1} - C_Bj h_{j-1} / scale,
 * s = h_J / scale, averaged over T repeats. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "pool.h"
#include "solve.h"
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
/* Steps per progress report (fi_progress_add). */
#define LISSA_PROGRESS 1024
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
  const fi_solve_common *c;
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
    fi_draw_batch(rng, o->N, B, w->idx);
    o->apply(o->ctx[thread], w->idx, B, w->h, w->Hv);
    return;
  }
  memset(w->acc, 0, P * sizeof *w->acc);
  for (int64_t done = 0; done < B;) {
    int64_t n = B - done < pl->piece ? B - done : pl->piece;
    fi_draw_batch(rng, o->N, n, w->idx);
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
  const fi_solve_common *c = pl->c;
  const int64_t P = o->P;
  float *h = w->h;
  fi_rng rng;
  fi_rng_seed(&rng, fi_lissa_repeat_seed(c->seed, r));
  const float keep = (float)(1.0 - c->damping), inv_scale = (float)(1.0 / c->scale);
  const int64_t every = pl->npos / LISSA_CHECKS > 0 ? pl->npos / LISSA_CHECKS : 1;
  memcpy(h, v, P * sizeof *h);
  double logh = 0, logs = 0, hprev = fi_norm2(v, P);
  w->Q[0] = w->Qs[0] = 0;
  memset(f, 0, sizeof *f);
  for (int64_t j = 1; j <= opt->depth; j++) {
    if (!(j % LISSA_PROGRESS)) fi_progress_add(LISSA_PROGRESS);
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
  fi_progress_add(opt->depth % LISSA_PROGRESS);
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

/* The failure of job (vector i, repeat r) as a status and message. */
static fi_solve_status lissa_failure(const lissa_fail *f, const fi_oracle *o, const char *name,
                                     int64_t r, fi_solve_error *err) {
  if (f->hvp)
    return fi_solve_fail(err, FI_SOLVE_NONFINITE,
                         "%s: LiSSA step %lld of repeat %lld: the %s-vector product of a training "
                         "batch is not finite",
                         name, (long long)f->step, (long long)r, fi_oracle_name(o));
  if (!isfinite(f->hnorm))
    return fi_solve_fail(err, FI_SOLVE_DIVERGED,
                         "%s: LiSSA diverged in repeat %lld: ||h|| is not finite at step %lld", name,
                         (long long)r, (long long)f->step);
  return fi_solve_fail(err, FI_SOLVE_DIVERGED,
                       "%s: LiSSA diverged in repeat %lld: over steps %lld..%lld %s grew %.3g times "
                       "faster than a converging recursion's (at most linear) growth (||h|| = %.3g "
                       "at step %lld)",
                       name, (long long)r, (long long)(f->step - f->window), (long long)f->step,
                       f->steps ? "the step h_j - h_j-1" : "||h||", f->growth, f->hnorm,
                       (long long)f->step);
}

fi_solve_status fi_lissa_solve(const fi_oracle *o, const fi_solve_opts *so, int64_t m,
                               const float *V, float *S, const char *const *ids,
                               fi_solve_info *info, fi_solve_error *err) {
  const fi_lissa_opts *opt = &so->lissa;
  const fi_solve_common *c = &so->c;
  const int64_t P = o->P, T = opt->repeats;
  /* scale and damping were checked by fi_solve_set_shift; these counts are
   * the option table's domain. */
  if (T < 1 || opt->depth < 0 || opt->batch < 1)
    fi_die("internal: LiSSA counts (repeats %lld, depth %lld, batch %lld)", (long long)T,
           (long long)opt->depth, (long long)opt->batch);
  if (o->N < 1) fi_die("internal: LiSSA on an empty training set");
  int nt = fi_oracle_threads(o);
  lissa_plan pl = {.o = o, .opt = opt, .c = c, .piece = opt->batch < o->N ? opt->batch : o->N};
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
  fi_progress_count("LiSSA steps", njobs * opt->depth);
  double *acc = fi_calloc(P, sizeof(double)), ss = 0;
  double *spread = info && T > 1 ? info->spread : NULL;
  fi_solve_status st = FI_SOLVE_OK;
  for (int64_t j0 = 0; j0 < njobs && !st; j0 += wave) {
    int64_t nw = njobs - j0 < wave ? njobs - j0 : wave;
    L.j0 = j0;
    fi_pool_run(nt, nw, lissa_job_run, &L);
    for (int64_t k = 0; k < nw && !st; k++) {
      int64_t i = (j0 + k) / T, r = (j0 + k) % T;
      if (L.fail[k].step) {
        char name[128];
        st = lissa_failure(&L.fail[k], o, fi_vector_name(name, sizeof name, ids, i),
                           opt->repeat_offset + r, err);
        break;
      }
      const float *x = L.R + k * P;
      for (int64_t q = 0; q < P; q++) acc[q] += x[q];
      if (spread) {
        double xn = fi_norm2(x, P);
        ss += xn * xn;
      }
      if (r == T - 1) {
        for (int64_t q = 0; q < P; q++) S[i * P + q] = (float)(acc[q] / (double)T);
        if (spread) spread[i] = fi_repeat_spread(acc, ss, T, P);
        memset(acc, 0, P * sizeof *acc);
        ss = 0;
      }
    }
  }
  fi_progress_count(NULL, 0);
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
  if (info) *info = (fi_solve_info){.sum_of = T, .spread = spread};
  return st;
}

static void lissa_fields(fi_writer *w, const fi_solve_opts *opt, const fi_solve_info *info) {
  fi_wint(w, "depth", opt->lissa.depth);
  fi_wint(w, "batch", opt->lissa.batch);
  fi_wint(w, "repeats", opt->lissa.repeats);
  fi_wint(w, "repeat_offset", opt->lissa.repeat_offset);
}

const fi_solver fi_solver_lissa = {"lissa", fi_lissa_solve, lissa_fields, .solves = 1, .recursion = 1};
