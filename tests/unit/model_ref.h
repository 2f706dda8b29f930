/* model_ref.h - an independent double-precision reference of the training
 * objective (mean cross-entropy + l2/2 ||weights||^2) for the model tests,
 * plus helpers that build small datasets as streams. Written from the
 * formulas in formats/model.md, sharing no code with lib/model_compute.c. */
#ifndef MODEL_REF_H
#define MODEL_REF_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "model.h"
#include "stream.h"
#include "util.h"

typedef struct {
  int bow, act, nl; /* act: 0 none, 1 tanh, 2 relu */
  int64_t sizes[33], buckets, dim;
  int np;
  int64_t off[FI_MAX_PARAMS], numel[FI_MAX_PARAMS], P;
  int isw[FI_MAX_PARAMS];
} refnet;

typedef struct {
  int64_t n, d;
  double *x;        /* dense [n, d] */
  int64_t *rowptr;  /* bow */
  int32_t *tok;
  int32_t *y;
} refdata;

static void ref_init(refnet *r, fi_model *m, int act) {
  memset(r, 0, sizeof *r);
  r->bow = !strcmp(fi_model_type(m), "bow");
  r->act = act;
  r->np = fi_model_nparams(m);
  int first = r->bow ? 1 : 0;
  r->nl = (r->np - first) / 2;
  for (int i = 0; i < r->np; i++) {
    r->off[i] = r->P;
    r->numel[i] = fi_model_param_numel(m, i);
    r->P += r->numel[i];
    const char *nm = fi_model_param_name(m, i);
    r->isw[i] = strstr(nm, ".weight") != NULL;
  }
  for (int k = 0; k < r->nl; k++) {
    int64_t out = r->numel[first + 2 * k + 1];
    r->sizes[k + 1] = out;
    r->sizes[k] = r->numel[first + 2 * k] / out;
  }
  if (r->bow) {
    r->dim = r->sizes[0];
    r->buckets = r->numel[0] / r->dim;
  }
}

static double ref_act(int act, double z) {
  return act == 1 ? tanh(z) : act == 2 ? (z > 0 ? z : 0) : z;
}

/* logits z [C] of example j */
static void ref_logits(const refnet *r, const double *th, const refdata *D, int64_t j, double *z) {
  double a[512];
  int first = r->bow ? 1 : 0;
  int64_t w0 = r->sizes[0];
  if (r->bow) {
    int64_t t0 = D->rowptr[j], t1 = D->rowptr[j + 1];
    for (int64_t c = 0; c < w0; c++) a[c] = 0;
    for (int64_t t = t0; t < t1; t++)
      for (int64_t c = 0; c < w0; c++) a[c] += th[r->off[0] + D->tok[t] * r->dim + c];
    for (int64_t c = 0; c < w0; c++) a[c] = t1 > t0 ? a[c] / (double)(t1 - t0) : 0;
  } else {
    for (int64_t c = 0; c < w0; c++) a[c] = D->x[j * D->d + c];
  }
  for (int k = 0; k < r->nl; k++) {
    int64_t in = r->sizes[k], out = r->sizes[k + 1];
    const double *W = th + r->off[first + 2 * k], *b = th + r->off[first + 2 * k + 1];
    for (int64_t o = 0; o < out; o++) {
      double s = b[o];
      for (int64_t c = 0; c < in; c++) s += W[o * in + c] * a[c];
      z[o] = s;
    }
    for (int64_t o = 0; o < out; o++) a[o] = k < r->nl - 1 ? ref_act(r->act, z[o]) : z[o];
  }
}

/* mean CE over the batch + l2/2 * sum of squared weights */
static double ref_loss(const refnet *r, const double *th, const refdata *D, const int64_t *idx,
                       int64_t nb, double l2) {
  double tot = 0;
  double z[512];
  for (int64_t ii = 0; ii < nb; ii++) {
    int64_t j = idx ? idx[ii] : ii;
    ref_logits(r, th, D, j, z);
    int64_t C = r->sizes[r->nl];
    double mx = z[0];
    for (int64_t c = 1; c < C; c++) mx = z[c] > mx ? z[c] : mx;
    double s = 0;
    for (int64_t c = 0; c < C; c++) s += exp(z[c] - mx);
    tot += mx + log(s) - z[D->y[j]];
  }
  double reg = 0;
  for (int i = 0; i < r->np; i++)
    if (r->isw[i])
      for (int64_t e = 0; e < r->numel[i]; e++) reg += th[r->off[i] + e] * th[r->off[i] + e];
  return tot / (double)nb + 0.5 * l2 * reg;
}

/* full index (in the all-parameters vector) of each selected coordinate */
static int64_t *ref_selmap(const refnet *r, const fi_psel *ps) {
  int64_t *map = malloc((size_t)ps->size * sizeof(int64_t));
  for (int s = 0; s < ps->n; s++)
    for (int64_t e = 0; e < r->numel[ps->idx[s]]; e++) map[ps->off[s] + e] = r->off[ps->idx[s]] + e;
  return map;
}

static double *ref_theta(fi_model *m, const refnet *r) {
  double *th = malloc((size_t)r->P * sizeof(double));
  for (int i = 0; i < r->np; i++) {
    const float *p = fi_model_param_data(m, i);
    for (int64_t e = 0; e < r->numel[i]; e++) th[r->off[i] + e] = p[e];
  }
  return th;
}

/* Random dense data: x ~ N(0,1) */
static void ref_make_dense(refdata *D, int64_t n, int64_t d, int C, uint64_t seed, const char *path) {
  fi_rng g;
  fi_rng_seed(&g, seed);
  memset(D, 0, sizeof *D);
  D->n = n;
  D->d = d;
  D->x = malloc((size_t)(n * d) * sizeof(double));
  D->y = malloc((size_t)n * sizeof(int32_t));
  float *xf = malloc((size_t)d * sizeof(float));
  fi_writer *w = fi_writer_open(path);
  for (int64_t i = 0; i < n; i++) {
    char id[32];
    snprintf(id, sizeof id, "ex%lld", (long long)i);
    for (int64_t c = 0; c < d; c++) {
      xf[c] = (float)fi_rng_normal(&g);
      D->x[i * d + c] = xf[c];
    }
    D->y[i] = (int32_t)fi_rng_below(&g, (uint64_t)C);
    fi_wbegin(w, id, 2);
    fi_wint(w, "label", D->y[i]);
    fi_wf32(w, "x", xf, d);
    fi_wend(w);
  }
  fi_writer_close(w);
  free(xf);
}

/* Random bag-of-buckets data; example 1 is empty (zero embedding). */
static void ref_make_bow(refdata *D, int64_t n, int64_t buckets, int C, uint64_t seed, const char *path) {
  fi_rng g;
  fi_rng_seed(&g, seed);
  memset(D, 0, sizeof *D);
  D->n = n;
  D->rowptr = calloc((size_t)n + 1, sizeof(int64_t));
  D->tok = malloc((size_t)(n * 8) * sizeof(int32_t));
  D->y = malloc((size_t)n * sizeof(int32_t));
  fi_writer *w = fi_writer_open(path);
  for (int64_t i = 0; i < n; i++) {
    char id[32];
    snprintf(id, sizeof id, "doc%lld", (long long)i);
    int64_t nt = i == 1 ? 0 : 1 + (int64_t)fi_rng_below(&g, 7);
    int32_t *t = D->tok + D->rowptr[i];
    for (int64_t k = 0; k < nt; k++) t[k] = (int32_t)fi_rng_below(&g, (uint64_t)buckets);
    D->rowptr[i + 1] = D->rowptr[i] + nt;
    D->y[i] = (int32_t)fi_rng_below(&g, (uint64_t)C);
    int64_t shape[1] = {nt};
    fi_wbegin(w, id, 2);
    fi_wint(w, "label", D->y[i]);
    fi_wtensor(w, "tokens", FI_I32, 1, shape, t);
    fi_wend(w);
  }
  fi_writer_close(w);
}

static void ref_free(refdata *D) {
  free(D->x);
  free(D->rowptr);
  free(D->tok);
  free(D->y);
}

/* Scale every parameter (keeps nets small so f32 finite differences and
 * activations stay well inside their accurate ranges). Biases get a random
 * offset so relu units sit away from their kinks. */
static void ref_perturb_model(fi_model *m, double wscale, double bias, uint64_t seed) {
  fi_rng g;
  fi_rng_seed(&g, seed);
  for (int i = 0; i < fi_model_nparams(m); i++) {
    float *p = fi_model_param_data(m, i);
    int isb = strstr(fi_model_param_name(m, i), ".bias") != NULL;
    for (int64_t e = 0; e < fi_model_param_numel(m, i); e++)
      p[e] = isb ? (float)(bias * fi_rng_normal(&g)) : (float)(wscale * p[e]);
  }
}

static double ref_relerr_f(const float *got, const double *want, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return sqrt(num) / (sqrt(den) > 1e-30 ? sqrt(den) : 1e-30);
}

static const char *ref_tmpdir(void) {
  static char dir[256];
  if (!dir[0]) {
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/fastif-model-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) {
      perror("mkdtemp");
      exit(1);
    }
  }
  return dir;
}

#endif
