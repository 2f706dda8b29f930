/* curvature_factored.c - factored-Tikhonov K-FAC (Martens & Grosse 2015,
 * section 6.3): (A (x) G + lambda I)^-1 ~ (A + gamma_A I)^-1 (x) (G + gamma_G I)^-1
 * with gamma_A = pi sqrt(lambda), gamma_G = sqrt(lambda) / pi,
 * pi = sqrt((tr A / k) / (tr G / out)). A test gradient's block
 * V = sum_t delta_t abar_t^T then maps to S = sum_t [(G + gamma_G)^-1 delta_t]
 * [(A + gamma_A)^-1 abar_t]^T: s_test keeps the record's rank r, written as
 * its factors (curvature.h, formats/ihvp.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "curvature.h"
#include "gemm.h"
#include "grad_records.h"

typedef struct {
  const fi_cblock *b;
  int layer;            /* the layout's layer */
  float *MA, *MG;       /* (A + gamma_A)^-1 [k, k], (G + gamma_G)^-1 [out, out] */
  float *sa, *sd, *abar;
  int64_t rcap;
} kfac_layer;

/* Q diag(1 / (e + g)) Q^T [n, n] (0 where e + g <= 0). */
static float *inverse_of(const float *Q, const float *e, int64_t n, double g) {
  float *T = fi_aligned(n * n > 0 ? n * n : 1, sizeof(float));
  float *M = fi_aligned(n * n > 0 ? n * n : 1, sizeof(float));
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) T[i * n + j] = e[j] + g > 0 ? (float)(Q[i * n + j] / (e[j] + g)) : 0;
  fi_gemm(0, 1, n, n, n, 1, T, n, Q, n, 0, M, n);
  free(T);
  return M;
}

static double mean(const float *x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += x[i];
  return n ? s / (double)n : 0;
}

int64_t fi_curv_factored_s(const fi_curv *c, const double *lam, fi_reader *r, fi_writer *w,
                           const fi_ihvp_curv_meta *cm, fi_err *e) {
  fi_grad_layout *L = NULL;
  fi_grad_view *v = NULL;
  kfac_layer *kl = fi_calloc(c->nblocks, sizeof *kl);
  int nk = 0, nd = 0;
  fi_ihvp_factor *f = fi_calloc(c->nblocks, sizeof *f);
  fi_ihvp_dense_part *dp = fi_calloc(c->nblocks, sizeof *dp);
  int *dpart = fi_calloc(c->nblocks, sizeof *dpart);  /* layout part of each dense block */
  const fi_cblock **dblk = fi_calloc(c->nblocks, sizeof *dblk);
  double *dlam = fi_calloc(c->nblocks, sizeof *dlam);
  double *gam = fi_calloc(2 * (size_t)c->nblocks, sizeof *gam);
  int64_t n = 0, status = 0;
  const fi_record *rec;
  while (!status && (rec = fi_read(r))) {
    if (!L) {
      if (!fi_grad_is_record(rec))
        fi_rec_die(rec, "not a gradient record (\"params\" with factors a.NAME / delta.NAME)");
      L = fi_grad_layout_new(rec, -1);
      v = fi_grad_view_new(L);
      if (L->whole) fi_rec_die(rec, "a whole dense \"grad\" has no factors to keep: --factored-s needs "
                               "layer-factor records (a.NAME, delta.NAME)");
      if (fi_curv_check_layout(c, L, L->P, L->params, e)) {
        status = -1;
        break;
      }
      for (int i = 0; i < c->nblocks; i++) { /* each block: its layer or dense part of the layout */
        const fi_cblock *b = &c->b[i];
        if (b->kind == FI_CBLOCK_DIAG) {
          int q = 0;
          while (q < L->nparts && (L->parts[q].kind != FI_GPART_DENSE || strcmp(L->parts[q].pname, b->name))) q++;
          if (q == L->nparts)
            fi_rec_die(rec, "the curvature's diagonal block '%s' is not a dense part grad.%s of these "
                       "records", b->name, b->name);
          dpart[nd] = q;
          dblk[nd] = b;
          dlam[nd] = lam[i];
          dp[nd++] = (fi_ihvp_dense_part){.pname = L->parts[q].pname, .numel = b->numel};
          continue;
        }
        int j = 0;
        while (j < L->nlayers && strcmp(L->layers[j].name, b->name)) j++;
        if (j == L->nlayers || L->layers[j].out != b->out ||
            (L->layers[j].weight >= 0 ? L->layers[j].in : 0) + (L->layers[j].bias >= 0) != b->k)
          fi_rec_die(rec, "the curvature's layer '%s' (out %lld, k %lld) has no matching factors in "
                     "these records", b->name, (long long)b->out, (long long)b->k);
        double ta = mean(b->eigA, b->k), tg = mean(b->eigG, b->out);
        double pi = ta > 0 && tg > 0 ? sqrt(ta / tg) : 1, sl = sqrt(lam[i]);
        kfac_layer *x = &kl[nk];
        x->b = b;
        x->layer = j;
        gam[2 * nk] = pi * sl;
        gam[2 * nk + 1] = sl / pi;
        x->MA = inverse_of(b->QA, b->eigA, b->k, gam[2 * nk]);
        x->MG = inverse_of(b->QG, b->eigG, b->out, gam[2 * nk + 1]);
        nk++;
      }
    }
    fi_grad_read(L, rec, v);
    for (int j = 0; j < nk; j++) {
      kfac_layer *x = &kl[j];
      const fi_grad_layer *gl = &L->layers[x->layer];
      const fi_grad_rows *rows = &v->layer[x->layer];
      const int64_t k = x->b->k, out = x->b->out, R = rows->r;
      if (R > x->rcap) {
        free(x->sa);
        free(x->sd);
        free(x->abar);
        x->rcap = R;
        x->sa = fi_aligned(fi_mul_size(R, k, "factored s"), sizeof(float));
        x->abar = fi_aligned(fi_mul_size(R, k, "factored s"), sizeof(float));
        x->sd = fi_aligned(fi_mul_size(R, out, "factored s"), sizeof(float));
      }
      for (int64_t t = 0; t < R; t++) {
        float *dst = x->abar + t * k;
        if (gl->weight >= 0) memcpy(dst, rows->a + t * gl->in, (size_t)gl->in * sizeof *dst);
        if (gl->bias >= 0) dst[k - 1] = 1;
      }
      if (R > 0) {
        fi_gemm(0, 0, R, k, k, 1, x->abar, k, x->MA, k, 0, x->sa, k); /* M symmetric */
        fi_gemm(0, 0, R, out, out, 1, rows->delta, out, x->MG, out, 0, x->sd, out);
      }
      f[j] = (fi_ihvp_factor){.name = x->b->name, .r = R, .k = k, .out = out, .sa = x->sa, .sd = x->sd};
    }
    for (int q = 0; q < nd; q++) {
      float *s = (float *)dp[q].s;
      if (!s) dp[q].s = s = fi_aligned(dp[q].numel > 0 ? dp[q].numel : 1, sizeof(float));
      const float *g = v->dense[dpart[q]];
      for (int64_t i = 0; i < dp[q].numel; i++) {
        double d = (double)dblk[q]->diag[i] + dlam[q];
        s[i] = d > 0 ? (float)(g[i] / d) : 0;
      }
    }
    fi_ihvp_curv_meta m = *cm;
    if (L->params) m.params = L->params;
    fi_ihvp_write_factored(w, fi_rec_id(rec), &m, nk, f, gam, nd, dp);
    n++;
  }
  for (int j = 0; j < nk; j++) {
    free(kl[j].MA);
    free(kl[j].MG);
    free(kl[j].sa);
    free(kl[j].sd);
    free(kl[j].abar);
  }
  for (int q = 0; q < nd; q++) free((float *)dp[q].s);
  free(kl);
  free(f);
  free(dp);
  free(dpart);
  free(dblk);
  free(dlam);
  free(gam);
  fi_grad_view_free(v);
  fi_grad_layout_free(L);
  return status ? -1 : n;
}
