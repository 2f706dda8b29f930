/* lds.c - subsets, outputs and the linear datamodeling score (lds.h). */
#include "lds.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rank.h"
#include "strset.h"
#include "util.h"

/* ---- draw ---- */

int64_t fi_lds_subset_size(int64_t n, double alpha) {
  int64_t k = (int64_t)llround(alpha * (double)n);
  if (k < 1) fi_die("alpha %g of %lld training examples leaves an empty subset", alpha, (long long)n);
  return k > n ? n : k;
}

static uint64_t subset_seed(uint64_t seed, int64_t m) {
  /* splitmix64 finaliser of (seed, m): every subset its own stream, so
   * subset m does not depend on how many are drawn. */
  uint64_t z = seed ^ (0xd1b54a32d192ed03ULL * ((uint64_t)m + 1));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void fi_lds_draw(int64_t n, int64_t k, uint64_t seed, int64_t m, int64_t *sel) {
  /* Selection sampling (Knuth's algorithm S): example i is taken with
   * probability (still needed)/(still left), which gives exactly k, every
   * k-subset equally likely, already in training order. */
  fi_rng rng;
  fi_rng_seed(&rng, subset_seed(seed, m));
  int64_t s = 0;
  for (int64_t i = 0; i < n && s < k; i++)
    if ((int64_t)fi_rng_below(&rng, (uint64_t)(n - i)) < k - s) sel[s++] = i;
}

void fi_lds_write_subset(fi_writer *w, int64_t m, const char *const *ids, const int64_t *sel,
                         int64_t k, int64_t n, double alpha, uint64_t seed) {
  char id[32];
  snprintf(id, sizeof id, "subset-%lld", (long long)m);
  const char **pick = fi_malloc(fi_mul_size((size_t)k, sizeof *pick, "subset"));
  for (int64_t i = 0; i < k; i++) pick[i] = ids[sel[i]];
  fi_wbegin(w, id, 5);
  fi_wint(w, "index", m);
  fi_wint(w, "n_train", n);
  fi_wdouble(w, "alpha", alpha);
  fi_wint(w, "seed", (int64_t)seed);
  fi_wstrs(w, "ids", pick, k);
  fi_wend(w);
  free(pick);
}

/* ---- collect ---- */

const char *fi_lds_output_name(fi_lds_output o) { return o == FI_LDS_LOSS ? "loss" : "margin"; }

double fi_lds_from_probs(fi_lds_output o, const float *p, int C, int y) {
  double rest = 0, other = 0;
  for (int c = 0; c < C; c++)
    if (c != y) {
      rest += p[c];
      if (p[c] > other) other = p[c];
    }
  /* A confident p_y rounds to 1 in float, which would tie every subset's
   * loss at 0; the other classes' mass keeps its precision. */
  double logpy = rest < 0.5 ? log1p(-rest) : log(fmax((double)p[y], (double)FLT_TRUE_MIN));
  if (o == FI_LDS_LOSS) return -logpy;
  return logpy - log(fmax(other, (double)FLT_TRUE_MIN));
}

double fi_lds_from_logits(fi_lds_output o, const float *z, int C, int y) {
  double top = -INFINITY, other = -INFINITY;
  for (int c = 0; c < C; c++) {
    if (z[c] > top) top = z[c];
    if (c != y && z[c] > other) other = z[c];
  }
  if (o == FI_LDS_MARGIN) return (double)z[y] - other;
  double s = 0;
  for (int c = 0; c < C; c++) s += exp((double)z[c] - top);
  return top + log(s) - (double)z[y];
}

int64_t fi_lds_collect(fi_reader *r, fi_writer *w, const char *subset_id, fi_lds_output o) {
  fi_strset *ids = fi_strset_new();
  double *val = NULL;
  int64_t n = 0, cap = 0;
  const fi_record *rec;
  while ((rec = fi_read(r))) {
    if (fi_strset_add(ids, fi_rec_id(rec)) < 0) fi_rec_die(rec, "duplicate id");
    int64_t y;
    fi_rec_int(rec, "label", &y, 1);
    const float *v;
    int has_logits = fi_rec_has(rec, "logits");
    int64_t C = fi_rec_f32(rec, has_logits ? "logits" : "probs", -1, &v, 1);
    if (y < 0 || y >= C)
      fi_rec_die(rec, "label %lld is not a class of the model's %lld", (long long)y, (long long)C);
    if (n == cap) {
      cap = cap ? 2 * cap : 1024;
      val = fi_realloc(val, fi_mul_size((size_t)cap, sizeof *val, "outputs"));
    }
    val[n++] = has_logits ? fi_lds_from_logits(o, v, (int)C, (int)y)
                          : fi_lds_from_probs(o, v, (int)C, (int)y);
  }
  if (n == 0) fi_die("%s: no predictions", fi_reader_name(r));
  const char **names = fi_malloc(fi_mul_size((size_t)n, sizeof *names, "outputs"));
  for (int64_t i = 0; i < n; i++) names[i] = fi_strset_at(ids, i);
  fi_wbegin(w, subset_id, 3);
  fi_wstr(w, "output", fi_lds_output_name(o));
  fi_wstrs(w, "ids", names, n);
  fi_wtensor(w, "values", FI_F64, 1, &n, val);
  fi_wend(w);
  free(names);
  free(val);
  fi_strset_free(ids);
  return n;
}

/* ---- score ---- */

static int by_value(const void *a, const void *b, void *v) { /* ascending, ties by position */
  const double *x = v;
  int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
  if (x[i] != x[j]) return x[i] < x[j] ? -1 : 1;
  return i < j ? -1 : i > j;
}

static void average_ranks(const double *x, int64_t n, double *rank, int64_t *order) {
  for (int64_t i = 0; i < n; i++) order[i] = i;
  qsort_r(order, (size_t)n, sizeof *order, by_value, (void *)x);
  for (int64_t i = 0; i < n;) {
    int64_t j = i;
    while (j + 1 < n && x[order[j + 1]] == x[order[i]]) j++;
    for (int64_t q = i; q <= j; q++) rank[order[q]] = 0.5 * (double)(i + j) + 1;
    i = j + 1;
  }
}

double fi_spearman(const double *x, const double *y, int64_t n, double *work) {
  double *rx = work, *ry = work + n;
  int64_t *order = (int64_t *)(work + 2 * n);   /* 2n doubles hold n indices */
  average_ranks(x, n, rx, order);
  average_ranks(y, n, ry, order);
  double mx = 0, my = 0;
  for (int64_t i = 0; i < n; i++) {
    mx += rx[i];
    my += ry[i];
  }
  mx /= (double)n;
  my /= (double)n;
  double sxy = 0, sxx = 0, syy = 0;
  for (int64_t i = 0; i < n; i++) {
    double a = rx[i] - mx, b = ry[i] - my;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  if (!(sxx > 0) || !(syy > 0)) return NAN;
  return sxy / sqrt(sxx * syy);
}

struct fi_lds {
  fi_strset *subsets;        /* subset ids, in the subsets file's order */
  fi_strset *train;          /* every training id of any subset */
  int64_t *off, *member;     /* subset s holds train indices member[off[s]..off[s+1]) */
  fi_scores *scores;
  fi_strset *tests;          /* the scored test ids, in order */
  int64_t M, T;
  int64_t *subset_of;        /* [M]: outputs record m is subset subset_of[m] */
  double *actual;            /* [M][T] */
  fi_lds_output output;
  double *rho;
  const char **test_ids;
};

static void load_subsets(fi_lds *l, const char *path) {
  fi_reader *r = fi_reader_open(path);
  int64_t cap = 0, ncap = 0, nm = 0, scap = 0;
  int64_t *stamp = NULL;   /* stamp[e] = s + 1: training id e already in subset s */
  l->off = fi_malloc(sizeof *l->off);
  l->off[0] = 0;
  const fi_record *rec;
  while ((rec = fi_read(r))) {
    int64_t s = fi_strset_add(l->subsets, fi_rec_id(rec));
    if (s < 0) fi_rec_die(rec, "duplicate subset id in %s", path);
    const char **ids;
    int64_t k = fi_rec_strs(rec, "ids", &ids, 1);
    if (k == 0) fi_rec_die(rec, "an empty subset");
    if (s + 2 > cap) {
      cap = cap ? 2 * cap : 64;
      l->off = fi_realloc(l->off, fi_mul_size((size_t)cap, sizeof *l->off, "subsets"));
    }
    if (nm + k > ncap) {
      ncap = nm + k > 2 * ncap ? nm + k : 2 * ncap;
      l->member = fi_realloc(l->member, fi_mul_size((size_t)ncap, sizeof *l->member, "subsets"));
    }
    for (int64_t i = 0; i < k; i++) {
      int64_t e = fi_strset_add(l->train, ids[i]);
      if (e < 0) e = -1 - e;
      if (e >= scap) {
        int64_t old = scap;
        scap = 2 * e + 64;
        stamp = fi_realloc(stamp, fi_mul_size((size_t)scap, sizeof *stamp, "subsets"));
        memset(stamp + old, 0, sizeof *stamp * (size_t)(scap - old));
      }
      if (stamp[e] == s + 1) fi_rec_die(rec, "training id '%s' listed twice", ids[i]);
      stamp[e] = s + 1;
      l->member[nm++] = e;
    }
    l->off[s + 1] = nm;
  }
  if (fi_strset_count(l->subsets) == 0) fi_die("%s: no subsets records", path);
  fi_reader_close(r);
  free(stamp);
}

/* A float tensor field as doubles (f32 or f64), each finite. */
static void rec_values(const fi_record *rec, const char *key, int64_t expect, double *out) {
  fi_tensor t;
  fi_rec_tensor(rec, key, &t, 1);
  if (t.dtype != FI_F32 && t.dtype != FI_F64) fi_rec_die(rec, "'%s' must be f32 or f64", key);
  if (t.n != expect)
    fi_rec_die(rec, "'%s' has %lld elements, expected %lld (one per id)", key, (long long)t.n,
               (long long)expect);
  for (int64_t i = 0; i < t.n; i++) {
    if (t.dtype == FI_F64) {
      memcpy(&out[i], (const char *)t.data + 8 * i, 8);
    } else {
      float f;
      memcpy(&f, (const char *)t.data + 4 * i, 4);
      out[i] = f;
    }
    if (!isfinite(out[i])) fi_rec_die(rec, "'%s'[%lld] is not finite", key, (long long)i);
  }
}

static void load_outputs(fi_lds *l, const char *path) {
  fi_reader *r = fi_reader_open(path);
  fi_strset *seen = fi_strset_new();
  int64_t cap = 0, vcap = 0;
  double *v = NULL;
  int64_t *col = NULL;
  const fi_record *rec;
  while ((rec = fi_read(r))) {
    const char *sid = fi_rec_id(rec);
    int64_t s = fi_strset_find(l->subsets, sid);
    if (s < 0) fi_rec_die(rec, "no subset '%s' in the subsets file", sid);
    if (fi_strset_add(seen, sid) < 0) fi_rec_die(rec, "outputs of subset '%s' given twice", sid);
    const char *kind = fi_rec_str(rec, "output", NULL, 1);
    fi_lds_output o = FI_LDS_MARGIN;
    if (!strcmp(kind, "loss")) o = FI_LDS_LOSS;
    else if (strcmp(kind, "margin")) fi_rec_die(rec, "output '%s' is neither margin nor loss", kind);
    if (l->M == 0) l->output = o;
    else if (o != l->output)
      fi_rec_die(rec, "output '%s', but earlier records are '%s'", kind, fi_lds_output_name(l->output));
    const char **ids;
    int64_t n = fi_rec_strs(rec, "ids", &ids, 1);
    if (n > vcap) {
      vcap = n;
      v = fi_realloc(v, fi_mul_size((size_t)n, sizeof *v, "outputs"));
    }
    rec_values(rec, "values", n, v);
    if (l->M == cap) {
      cap = cap ? 2 * cap : 64;
      l->subset_of = fi_realloc(l->subset_of, fi_mul_size((size_t)cap, sizeof *l->subset_of, "outputs"));
      l->actual = fi_realloc(l->actual, fi_mul_size(fi_mul_size((size_t)cap, (size_t)l->T, "outputs"),
                                                    sizeof *l->actual, "outputs"));
    }
    double *row = l->actual + l->M * l->T;
    if (!col) col = fi_malloc(fi_mul_size((size_t)l->T, sizeof *col, "outputs"));
    for (int64_t t = 0; t < l->T; t++) col[t] = -1;
    for (int64_t i = 0; i < n; i++) {
      int64_t t = fi_strset_find(l->tests, ids[i]);
      if (t < 0) continue;   /* a test point nobody scored */
      if (col[t] >= 0) fi_rec_die(rec, "test id '%s' listed twice", ids[i]);
      col[t] = i;
      row[t] = v[i];
    }
    for (int64_t t = 0; t < l->T; t++)
      if (col[t] < 0)
        fi_rec_die(rec, "no output for the scored test point '%s'", fi_strset_at(l->tests, t));
    l->subset_of[l->M++] = s;
  }
  if (l->M < 3) fi_die("%s: outputs of %lld subsets; a rank correlation needs at least 3", path,
                       (long long)l->M);
  fi_reader_close(r);
  fi_strset_free(seen);
  free(v);
  free(col);
}

fi_lds *fi_lds_load(const char *subsets, const char *outputs, fi_reader *scores) {
  fi_lds *l = fi_calloc(1, sizeof *l);
  l->subsets = fi_strset_new();
  l->train = fi_strset_new();
  l->tests = fi_strset_new();
  load_subsets(l, subsets);
  l->scores = fi_scores_merge(scores);
  l->T = fi_scores_ntests(l->scores);
  if (l->T == 0) fi_die("%s: no scores records", fi_reader_name(scores));
  for (int64_t t = 0; t < l->T; t++) fi_strset_add(l->tests, fi_scores_test_id(l->scores, t));
  load_outputs(l, outputs);
  return l;
}

/* Test points per GEMM: a dense [N, block] slab of scores stays near 32 MB. */
static int64_t test_block(int64_t N, int64_t T) {
  int64_t b = ((int64_t)1 << 22) / (N > 0 ? N : 1);
  if (b < 1) b = 1;
  if (b > 64) b = 64;
  return b < T ? b : T;
}

static int by_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double quantile(const double *sorted, int64_t n, double q) { /* linear, as numpy's default */
  double h = q * (double)(n - 1);
  int64_t i = (int64_t)floor(h);
  if (i >= n - 1) return sorted[n - 1];
  return sorted[i] + (h - (double)i) * (sorted[i + 1] - sorted[i]);
}

static void bootstrap(const double *rho, int64_t nd, const fi_lds_opts *o, fi_lds_result *res) {
  res->lo = res->hi = NAN;
  if (o->nboot <= 0) return;
  double *mean = fi_malloc(fi_mul_size((size_t)o->nboot, sizeof *mean, "bootstrap"));
  fi_rng rng;
  fi_rng_seed(&rng, o->seed);
  for (int64_t b = 0; b < o->nboot; b++) {
    double s = 0;
    for (int64_t i = 0; i < nd; i++) s += rho[fi_rng_below(&rng, (uint64_t)nd)];
    mean[b] = s / (double)nd;
  }
  qsort(mean, (size_t)o->nboot, sizeof *mean, by_double);
  res->lo = quantile(mean, o->nboot, (1 - o->level) / 2);
  res->hi = quantile(mean, o->nboot, 1 - (1 - o->level) / 2);
  free(mean);
}

void fi_lds_compute(fi_lds *l, const fi_lds_opts *o, fi_lds_result *res) {
  const int64_t M = l->M, T = l->T, N = fi_strset_count(l->train);
  const int64_t tb = test_block(N, T);
  double *X = fi_calloc(fi_mul_size((size_t)M, (size_t)(N ? N : 1), "membership"), sizeof *X);
  for (int64_t m = 0; m < M; m++) {
    int64_t s = l->subset_of[m];
    for (int64_t q = l->off[s]; q < l->off[s + 1]; q++) X[m * N + l->member[q]] = 1;
  }
  double *S = fi_malloc(fi_mul_size(fi_mul_size((size_t)N, (size_t)tb, "scores"), sizeof *S, "scores"));
  double *P = fi_malloc(fi_mul_size(fi_mul_size((size_t)M, (size_t)tb, "predictions"), sizeof *P, "predictions"));
  double *x = fi_malloc(fi_mul_size((size_t)M, 2 * sizeof *x, "outputs")), *y = x + M;
  double *work = fi_malloc(fi_mul_size((size_t)M, 3 * sizeof *work, "ranks"));
  l->rho = fi_malloc(fi_mul_size((size_t)T, sizeof *l->rho, "correlations"));
  l->test_ids = fi_malloc(fi_mul_size((size_t)T, sizeof *l->test_ids, "test ids"));
  const double sign = l->output == FI_LDS_LOSS ? 1 : -1;
  fi_ranking rk = {0};
  int64_t nscored = 0;
  for (int64_t t0 = 0; t0 < T; t0 += tb) {
    int64_t nb = T - t0 < tb ? T - t0 : tb;
    memset(S, 0, sizeof *S * (size_t)(N * nb));
    for (int64_t j = 0; j < nb; j++) {
      fi_rank_select(&rk, l->scores, t0 + j, 0);   /* the merged list of test t0+j */
      int64_t hit = 0;
      for (int64_t i = 0; i < rk.n; i++) {
        int64_t e = fi_strset_find(l->train, rk.ids[i]);
        if (e < 0) continue;   /* in no subset: in no sum */
        S[e * nb + j] = rk.score[i];
        hit++;
      }
      if (hit == 0)
        fi_die("test '%s': none of its %lld scored training ids is in a subset (scores of another training set?)",
               rk.test_id, (long long)rk.n);
      nscored += rk.n;
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)nb, (int)N, sign, X, (int)N,
                S, (int)nb, 0, P, (int)nb);
    for (int64_t j = 0; j < nb; j++) {
      int64_t t = t0 + j;
      for (int64_t m = 0; m < M; m++) {
        x[m] = l->actual[m * T + t];
        y[m] = P[m * nb + j];
      }
      l->rho[t] = fi_spearman(x, y, M, work);
      l->test_ids[t] = fi_strset_at(l->tests, t);
    }
    fi_progress("%lld/%lld test points", (long long)(t0 + nb), (long long)T);
  }
  fi_progress_end();
  fi_ranking_free(&rk);
  double *def = fi_malloc(fi_mul_size((size_t)T, sizeof *def, "correlations"));
  int64_t nd = 0;
  double sum = 0;
  for (int64_t t = 0; t < T; t++)
    if (!isnan(l->rho[t])) {
      def[nd++] = l->rho[t];
      sum += l->rho[t];
    }
  if (nd == 0) fi_die("no test point has a defined correlation (outputs or predictions constant over the subsets)");
  *res = (fi_lds_result){.output = l->output, .nsubsets = M, .ntests = T, .nundefined = T - nd,
                         .lds = sum / (double)nd, .scored = (double)nscored / (double)T,
                         .test_ids = l->test_ids, .rho = l->rho};
  bootstrap(def, nd, o, res);
  free(def);
  free(work);
  free(x);
  free(P);
  free(S);
  free(X);
}

void fi_lds_write(fi_writer *w, const char *id, const fi_lds_opts *o, const fi_lds_result *res) {
  int ci = o->nboot > 0;
  /* An undefined correlation is not a number to write: the defined ones go
   * in ids/spearman, the others are named in undefined_ids. */
  const int64_t T = res->ntests, nd = T - res->nundefined;
  const char **def_ids = fi_calloc((size_t)(T + 1), sizeof *def_ids), **und_ids = def_ids + nd;
  double *def = fi_malloc(fi_mul_size((size_t)(nd + 1), sizeof *def, "correlations"));
  for (int64_t t = 0, i = 0, u = 0; t < T; t++) {
    if (isnan(res->rho[t])) und_ids[u++] = res->test_ids[t];
    else def_ids[i] = res->test_ids[t], def[i++] = res->rho[t];
  }
  fi_wbegin(w, id, 12 + 2 * ci);
  fi_wstr(w, "output", fi_lds_output_name(res->output));
  fi_wdouble(w, "lds", res->lds);
  if (ci) {
    fi_wdouble(w, "ci_low", res->lo);
    fi_wdouble(w, "ci_high", res->hi);
  }
  fi_wdouble(w, "level", o->level);
  fi_wint(w, "bootstrap", o->nboot);
  fi_wint(w, "seed", (int64_t)o->seed);
  fi_wint(w, "subsets", res->nsubsets);
  fi_wint(w, "tests", res->ntests);
  fi_wint(w, "undefined", res->nundefined);
  fi_wdouble(w, "scored", res->scored);
  fi_wstrs(w, "ids", def_ids, nd);
  fi_wtensor(w, "spearman", FI_F64, 1, &nd, def);
  fi_wstrs(w, "undefined_ids", und_ids, res->nundefined);
  fi_wend(w);
  free(def_ids);
  free(def);
}

void fi_lds_free(fi_lds *l) {
  if (!l) return;
  fi_strset_free(l->subsets);
  fi_strset_free(l->train);
  fi_strset_free(l->tests);
  fi_scores_free(l->scores);
  free(l->off);
  free(l->member);
  free(l->subset_of);
  free(l->actual);
  free(l->rho);
  free(l->test_ids);
  free(l);
}
