/* influence.c - scoring training gradients against ihvp records
 * (influence.h). */
#include "influence.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grad_records.h"
#include "pool.h"
#include "util.h"

void fi_scores_write(fi_writer *w, const char *id, const char *const *ids,
                     const float *scores, int64_t n) {
  fi_wbegin(w, id, 2);
  fi_wstrs(w, "ids", ids, n);
  fi_wf32(w, "scores", scores, n);
  fi_wend(w);
}

/* A score is computed from finite inputs; a non-finite one means the
 * training example's gradient overflowed (formats/scores.md). */
static void check_score(float sc, const char *train_id, const char *test_id) {
  if (!isfinite(sc))
    fi_die("record '%s': its influence score on test '%s' is %s (its loss gradient overflows: "
           "the inputs or the model's weights overflow float arithmetic)",
           train_id, test_id, isnan(sc) ? "NaN" : "infinite");
}

/* ---- a gradient stream ---- */

/* A layer's factors for the batch, and for a weight part the T blocks of
 * S stacked once, so each batch is one GEMM. */
typedef struct {
  float *A, *D;             /* this batch's factors: [rows, in], [rows, out] */
} fbatch;

typedef struct {            /* the stream's state */
  const fi_ihvps *h;
  const fi_model *m;
  const fi_psel *ps;
  char *pnames;             /* the selection's tensor names (with a model), or NULL */
  int64_t batch;
  int64_t n, nb;            /* records scored, records in the current batch */
  char **ids;               /* [n + nb] */
  float *sc;                /* [n, T] grows with the stream */
  int64_t idcap;
  fi_grad_layout *L;        /* from the first record */
  fi_grad_view *v;
  float *G;                 /* whole dense records: [rows, P] */
  fbatch *fb;               /* per layer */
  float **SW;               /* per part: a weight's S blocks stacked [T*out, in], else NULL */
  float **GD;               /* per part: a dense part's rows [rows, numel], else NULL */
  float *Y;                 /* factored weights: [T*out, batch] */
  int64_t ycap;
  int64_t rows;             /* batch rows allocated: grown up to batch as records come */
} gstream;

/* The first record fixes the layout: factored records need the model and
 * must fit its selected tensors; stack the weight blocks of S. */
static void plan(gstream *g, const fi_record *rec) {
  const int64_t T = g->h->T, P = g->h->P;
  g->L = fi_grad_layout_new(rec, P);
  g->v = fi_grad_view_new(g->L);
  const fi_grad_layout *L = g->L;
  if (L->whole) return;
  if (!g->m) fi_rec_die(rec, "no \"grad\" field: factored gradients need --model (and --params)");
  if (L->nparts != g->ps->n)
    fi_rec_die(rec, "%d gradient parts, but %d selected tensors", L->nparts, g->ps->n);
  g->fb = fi_calloc(L->nlayers ? L->nlayers : 1, sizeof *g->fb);
  g->SW = fi_calloc(L->nparts, sizeof *g->SW);
  g->GD = fi_calloc(L->nparts, sizeof *g->GD);
  for (int i = 0; i < L->nparts; i++) {
    const fi_grad_part *pt = &L->parts[i];
    int64_t numel = fi_model_param_numel(g->m, g->ps->idx[i]);
    if (pt->kind == FI_GPART_DENSE) {
      if (pt->numel != numel)
        fi_rec_die(rec, "'%s' (%lld) does not fit %s's %lld elements", pt->key, (long long)pt->numel,
                   pt->pname, (long long)numel);
      continue;
    }
    const fi_grad_layer *l = &L->layers[pt->layer];
    if (pt->numel != numel)
      fi_rec_die(rec, "factors %s (%lld) / %s (%lld) do not fit the %s's %lld elements", l->akey,
                 (long long)l->in, l->dkey, (long long)l->out,
                 pt->kind == FI_GPART_BIAS ? "bias" : "weight", (long long)numel);
    if (pt->kind == FI_GPART_WEIGHT) {
      g->SW[i] = fi_aligned(fi_mul_size(T * l->out, l->in, "stacked ihvp"), sizeof(float));
      for (int64_t t = 0; t < T; t++)
        memcpy(g->SW[i] + t * l->out * l->in, g->h->S + t * P + pt->off,
               l->out * l->in * sizeof(float));
    }
  }
}

/* A copy of rows [0, keep) of a [*, width] buffer in a new one of `rows` rows. */
static float *regrow(float *old, int64_t keep, int64_t rows, int64_t width) {
  float *p = fi_aligned(fi_mul_size(rows, width, "gradient batch"), sizeof(float));
  if (old) memcpy(p, old, (size_t)(keep * width) * sizeof(float));
  free(old);
  return p;
}

/* Room for one more record in the batch: the buffers grow with the records
 * actually read, up to the batch size, never to --batch rows up front. */
static void make_room(gstream *g) {
  if (g->nb < g->rows) return;
  int64_t rows = g->rows ? 2 * g->rows : 64;
  if (rows > g->batch) rows = g->batch;
  const fi_grad_layout *L = g->L;
  if (L->whole) {
    g->G = regrow(g->G, g->nb, rows, g->h->P);
  } else {
    for (int j = 0; j < L->nlayers; j++) {
      g->fb[j].A = regrow(g->fb[j].A, g->nb, rows, L->layers[j].in);
      g->fb[j].D = regrow(g->fb[j].D, g->nb, rows, L->layers[j].out);
    }
    for (int i = 0; i < L->nparts; i++)
      if (L->parts[i].kind == FI_GPART_DENSE) g->GD[i] = regrow(g->GD[i], g->nb, rows, L->parts[i].numel);
  }
  g->rows = rows;
}

/* Append one record's gradient to the batch. */
static void add_record(gstream *g, const fi_record *rec) {
  const int64_t T = g->h->T, P = g->h->P, nb = g->nb;
  /* training gradients: under the gold label, over the ihvp records' parameters */
  const fi_grad_expect e = {.label_kind = "gold", .label_fix = "grad --label", .pnames = g->pnames,
                            .spec = g->h->params, .params_opt = "--params"};
  fi_grad_check(rec, &e);
  if (!g->L) plan(g, rec);
  if (g->n + nb >= g->idcap) {
    g->idcap = g->idcap ? 2 * g->idcap : 1024;
    g->ids = fi_realloc(g->ids, fi_mul_size(g->idcap, sizeof *g->ids, "ids"));
    g->sc = fi_realloc(g->sc, fi_mul_size(fi_mul_size(g->idcap, T, "scores"), sizeof(float), "scores"));
  }
  g->ids[g->n + nb] = fi_strdup(fi_rec_id(rec));
  make_room(g);
  const fi_grad_layout *L = g->L;
  fi_grad_read(L, rec, g->v);
  if (L->whole) {
    memcpy(g->G + nb * P, g->v->g, P * sizeof(float));
  } else {
    for (int j = 0; j < L->nlayers; j++) {
      const fi_grad_layer *l = &L->layers[j];
      if (g->v->layer[j].r != 1)
        fi_rec_die(rec, "'%s' has %lld rows: influence scores factors of one row per record",
                   l->akey, (long long)g->v->layer[j].r);
      memcpy(g->fb[j].A + nb * l->in, g->v->layer[j].a, l->in * sizeof(float));
      memcpy(g->fb[j].D + nb * l->out, g->v->layer[j].delta, l->out * sizeof(float));
    }
    for (int i = 0; i < L->nparts; i++)
      if (L->parts[i].kind == FI_GPART_DENSE)
        memcpy(g->GD[i] + nb * L->parts[i].numel, g->v->dense[i], L->parts[i].numel * sizeof(float));
  }
  g->nb++;
}

/* Score the batch: rows n..n+nb of sc. */
static void score_batch(gstream *g) {
  const int64_t T = g->h->T, P = g->h->P, nb = g->nb;
  const float *S = g->h->S;
  const fi_grad_layout *L = g->L;
  float *out = g->sc + g->n * T; /* [nb, T] */
  if (L->whole) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)T, (int)P, -1.0f, g->G,
                (int)P, S, (int)P, 0.0f, out, (int)T);
  } else {
    memset(out, 0, nb * T * sizeof(float));
    for (int j = 0; j < L->nparts; j++) {
      const fi_grad_part *pt = &L->parts[j];
      if (pt->kind == FI_GPART_DENSE) { /* out -= G_part S_part^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)T, (int)pt->numel, -1.0f,
                    g->GD[j], (int)pt->numel, S + pt->off, (int)P, 1.0f, out, (int)T);
        continue;
      }
      const fi_grad_layer *l = &L->layers[pt->layer];
      const fbatch *f = &g->fb[pt->layer];
      const int64_t in = l->in, o = l->out;
      if (pt->kind == FI_GPART_BIAS) { /* g_b = delta: plain dots */
        for (int64_t i = 0; i < nb; i++)
          for (int64_t t = 0; t < T; t++)
            out[i * T + t] -= cblas_sdot((int)o, f->D + i * o, 1, S + t * P + pt->off, 1);
      } else {       /* g_W . S_W = delta^T S_W a: Y = SW A^T, then rows of delta */
        if (T * o * nb > g->ycap) {
          free(g->Y);
          g->ycap = T * o * nb;
          g->Y = fi_aligned(g->ycap, sizeof(float));
        }
        const float *Y = g->Y;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(T * o), (int)nb, (int)in,
                    1.0f, g->SW[j], (int)in, f->A, (int)in, 0.0f, g->Y, (int)nb);
        for (int64_t t = 0; t < T; t++)
          for (int64_t i = 0; i < nb; i++) {
            double s = 0;
            const float *d = f->D + i * o;
            for (int64_t q = 0; q < o; q++) s += (double)d[q] * Y[(t * o + q) * nb + i];
            out[i * T + t] -= (float)s;
          }
      }
    }
  }
  for (int64_t i = 0; i < nb; i++)
    for (int64_t t = 0; t < T; t++) check_score(out[i * T + t], g->ids[g->n + i], g->h->ids[t]);
  g->n += nb;
  g->nb = 0;
  fi_progress("%lld gradients", (long long)g->n);
}

static void gstream_free(gstream *g) {
  for (int64_t i = 0; i < g->n; i++) free(g->ids[i]);
  free(g->ids);
  free(g->sc);
  free(g->pnames);
  free(g->G);
  free(g->Y);
  if (g->L && !g->L->whole) {
    for (int j = 0; j < g->L->nlayers; j++) {
      free(g->fb[j].A);
      free(g->fb[j].D);
    }
    for (int i = 0; i < g->L->nparts; i++) {
      free(g->SW[i]);
      free(g->GD[i]);
    }
  }
  free(g->fb);
  free(g->SW);
  free(g->GD);
  fi_grad_view_free(g->v);
  fi_grad_layout_free(g->L);
}

long long fi_score_gradient_stream(const fi_ihvps *h, const fi_model *m, const fi_psel *ps,
                                   int64_t batch, fi_reader *r, fi_writer *w) {
  const int64_t T = h->T;
  gstream g = {.h = h, .m = m, .ps = ps, .batch = batch, .pnames = m ? fi_psel_names(m, ps) : NULL};
  for (;;) {
    const fi_record *rec = fi_read(r);
    if (rec) add_record(&g, rec);
    if (g.nb == batch || (!rec && g.nb > 0)) score_batch(&g);
    if (!rec) break;
  }
  fi_progress_end();
  const int64_t n = g.n;
  if (n == 0) fi_die("no gradient records on %s (nothing to score)", fi_reader_name(r));
  float *col = fi_malloc(fi_mul_size(n ? n : 1, sizeof(float), "scores"));
  for (int64_t t = 0; t < T; t++) {
    for (int64_t i = 0; i < n; i++) col[i] = g.sc[i * T + t];
    fi_scores_write(w, h->ids[t], (const char *const *)g.ids, col, n);
  }
  fi_log("%lld gradient records x %lld ihvp records", (long long)n, (long long)T);
  free(col);
  gstream_free(&g);
  return (long long)T;
}

/* ---- fused ---- */

/* Batch b is examples [b*batch, (b+1)*batch): the same partition for any
 * thread count, each batch computed alone by one thread (with one BLAS
 * thread), so the scores are bitwise the same for every --threads. Jobs are
 * pulled, not dealt: a thread slowed by another process takes fewer
 * batches and nobody waits at a barrier. */
typedef struct {
  const fi_ihvps *h;
  const fi_model *m;
  const fi_psel *ps;
  const fi_examples *train;
  int64_t N, batch;
  int with_l2;
  fi_ws **ws;               /* per thread */
  int64_t **idx;            /* per thread [batch] */
  float **out;              /* per thread [T, batch] */
  float *all;               /* [T, N] */
} fused;

static void fused_job(void *arg, int thread, int64_t b) {
  fused *F = arg;
  const int64_t T = F->h->T, i0 = b * F->batch;
  const int64_t nb = F->N - i0 < F->batch ? F->N - i0 : F->batch;
  int64_t *idx = F->idx[thread];
  float *out = F->out[thread];
  for (int64_t i = 0; i < nb; i++) idx[i] = i0 + i;
  fi_influence_scores(F->m, F->ws[thread], F->ps, F->train, idx, nb, F->h->S, (int)T, F->with_l2, out);
  for (int64_t t = 0; t < T; t++)
    for (int64_t i = 0; i < nb; i++) check_score(out[t * nb + i], fi_examples_id(F->train, i0 + i), F->h->ids[t]);
  for (int64_t t = 0; t < T; t++) memcpy(F->all + t * F->N + i0, out + t * nb, nb * sizeof(float));
  fi_progress_add(nb);
}

long long fi_score_training_set(const fi_ihvps *h, const fi_model *m, const fi_psel *ps,
                                const fi_examples *train, int64_t batch, int with_l2,
                                int nthreads, fi_fused_times *times, fi_writer *w) {
  const int64_t N = fi_examples_count(train), T = h->T;
  if (batch > N) batch = N > 0 ? N : 1; /* buffers follow the data, not the option */
  const int64_t nbatch = (N + batch - 1) / batch;
  if (nthreads < 1) nthreads = 1;
  if (nthreads > nbatch) nthreads = (int)(nbatch > 0 ? nbatch : 1);
  fused F = {.h = h, .m = m, .ps = ps, .train = train, .N = N, .batch = batch, .with_l2 = with_l2};
  F.ws = fi_calloc(nthreads, sizeof *F.ws);
  F.idx = fi_calloc(nthreads, sizeof *F.idx);
  F.out = fi_calloc(nthreads, sizeof *F.out);
  for (int t = 0; t < nthreads; t++) {
    F.ws[t] = fi_ws_new(m);
    F.idx[t] = fi_malloc(fi_mul_size(batch, sizeof **F.idx, "batch"));
    F.out[t] = fi_aligned(fi_mul_size(T, batch, "scores"), sizeof(float));
  }
  F.all = fi_aligned(fi_mul_size(T, N ? N : 1, "scores"), sizeof(float));
  double t0 = fi_now();
  fi_progress("scoring against %lld ihvp records", (long long)T);
  fi_progress_count("training examples", N);
  fi_pool_run(nthreads, nbatch, fused_job, &F);
  fi_progress_count(NULL, 0);
  fi_progress_end();
  double t1 = fi_now();
  const char **tid = fi_malloc(fi_mul_size(N ? N : 1, sizeof *tid, "ids"));
  for (int64_t i = 0; i < N; i++) tid[i] = fi_examples_id(train, i);
  for (int64_t t = 0; t < T; t++) fi_scores_write(w, h->ids[t], tid, F.all + t * N, N);
  if (times) {
    *times = (fi_fused_times){.wall = t1 - t0, .write = fi_now() - t1, .threads = nthreads};
    for (int t = 0; t < nthreads; t++) {
      double pass, sc;
      fi_ws_times(F.ws[t], &pass, &sc);
      times->pass += pass;
      times->scores += sc;
    }
  }
  free(tid);
  for (int t = 0; t < nthreads; t++) {
    fi_ws_free(F.ws[t]);
    free(F.idx[t]);
    free(F.out[t]);
  }
  free(F.ws);
  free(F.idx);
  free(F.out);
  free(F.all);
  fi_log("%lld training examples x %lld ihvp records", (long long)N, (long long)T);
  return (long long)T;
}

long long fi_score_candidates(const fi_ihvps *h, const fi_model *m, const fi_psel *ps,
                              const fi_examples *train, const char *train_path,
                              fi_reader *cands, int64_t batch, int with_l2, fi_writer *w) {
  fi_ws *ws = fi_ws_new(m);
  const fi_record *rec;
  int64_t *idx = NULL, icap = 0;
  float *sc = NULL;
  long long total = 0, nout = 0;
  unsigned char *seen = fi_calloc((size_t)h->T, 1);
  while ((rec = fi_read(cands))) {
    int64_t t = fi_ihvps_find(h, fi_rec_id(rec));
    if (t < 0) fi_rec_die(rec, "no ihvp record with this id in %s", h->path);
    if (seen[t]) fi_rec_die(rec, "a second candidates record for this id");
    seen[t] = 1;
    const char **cid;
    int64_t k = fi_rec_strs(rec, "ids", &cid, 1);
    if (k > icap) {
      icap = k;
      free(idx);
      free(sc);
      idx = fi_malloc(fi_mul_size(icap, sizeof *idx, "candidates"));
      sc = fi_aligned(icap, sizeof(float));
    }
    for (int64_t i = 0; i < k; i++) {
      idx[i] = fi_examples_find(train, cid[i]);
      if (idx[i] < 0) fi_rec_die(rec, "candidate '%s' is not in %s", cid[i], train_path);
    }
    for (int64_t i0 = 0; i0 < k; i0 += batch) {
      int64_t nb = k - i0 < batch ? k - i0 : batch;
      fi_influence_scores(m, ws, ps, train, idx + i0, nb, h->S + t * h->P, 1, with_l2, sc + i0);
    }
    for (int64_t i = 0; i < k; i++) check_score(sc[i], cid[i], fi_rec_id(rec));
    fi_scores_write(w, fi_rec_id(rec), cid, sc, k);
    total += k;
    nout++;
  }
  /* Every test point must be scored: an ihvp id without candidates would
   * silently drop out of the results. */
  if (nout < h->T) {
    char list[512];
    size_t len = 0;
    int shown = 0;
    list[0] = 0;
    for (int64_t t = 0; t < h->T && shown < 5; t++)
      if (!seen[t]) {
        int k = snprintf(list + len, sizeof list - len, "%s'%.60s'", shown ? ", " : "", h->ids[t]);
        if (k > 0 && (size_t)k < sizeof list - len) len += (size_t)k;
        shown++;
      }
    fi_die("%s: no candidates record for %lld of the %lld ihvp records in %s (%s%s)",
           fi_reader_name(cands), (long long)(h->T - nout), (long long)h->T, h->path, list,
           h->T - nout > shown ? ", ..." : "");
  }
  fi_log("%lld candidate records, %lld scores", nout, total);
  free(seen);
  free(idx);
  free(sc);
  fi_ws_free(ws);
  return nout;
}
