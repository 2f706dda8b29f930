/* influence.c - scoring training gradients against ihvp records
 * (influence.h). */
#include "influence.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_vectors.h"
#include "util.h"

/* ---- ihvp records ---- */

int64_t fi_ihvps_find(const fi_ihvps *h, const char *id) {
  for (int64_t t = 0; t < h->T; t++)
    if (!strcmp(h->ids[t], id)) return t;
  return -1;
}

void fi_ihvps_load(fi_ihvps *h, const char *path) {
  memset(h, 0, sizeof *h);
  h->path = fi_strdup(path);
  fi_reader *r = fi_reader_open(path);
  const fi_record *rec;
  int64_t cap = 0;
  while ((rec = fi_read(r))) {
    const float *v;
    int64_t P = fi_rec_f32(rec, "ihvp", h->T ? h->P : -1, &v, 1);
    const char *ps = fi_rec_str(rec, "params", NULL, 0);
    if (h->T == 0) {
      h->P = P;
      h->params = ps ? fi_strdup(ps) : NULL;
    } else if ((ps == NULL) != (h->params == NULL) || (ps && strcmp(ps, h->params))) {
      fi_rec_die(rec, "params '%s' differ from the first ihvp record's '%s'", ps ? ps : "?",
                 h->params ? h->params : "?");
    }
    if (h->T == cap) {
      cap = cap ? 2 * cap : 16;
      h->ids = fi_realloc(h->ids, fi_mul_size(cap, sizeof *h->ids, "ihvp ids"));
      h->S = fi_realloc(h->S, fi_mul_size(fi_mul_size(cap, P, "ihvp"), sizeof(float), "ihvp"));
    }
    if (fi_ihvps_find(h, fi_rec_id(rec)) >= 0) fi_rec_die(rec, "duplicate ihvp id");
    h->ids[h->T] = fi_strdup(fi_rec_id(rec));
    memcpy(h->S + h->T * P, v, P * sizeof(float));
    h->T++;
  }
  fi_reader_close(r);
  if (h->T == 0) fi_die("%s: no ihvp records", path);
}

void fi_ihvps_free(fi_ihvps *h) {
  for (int64_t t = 0; t < h->T; t++) free(h->ids[t]);
  free(h->ids);
  free(h->S);
  free(h->params);
  free(h->path);
  memset(h, 0, sizeof *h);
}

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

/* A selected dense-layer tensor, for factored gradient records. */
typedef struct {
  int64_t off, numel;
  int bias;
  char akey[40], dkey[40];
  float *SW;                /* weights: S blocks stacked [T*out, in] */
  int64_t in, out;
  float *A, *D;             /* this batch's factors: [batch, in], [batch, out] */
} ftensor;

typedef struct {            /* the stream's state */
  const fi_ihvps *h;
  char *pnames;             /* the selection's tensor names (with a model), or NULL */
  int64_t batch;
  int64_t n, nb;            /* records scored, records in the current batch */
  char **ids;               /* [n + nb] */
  float *sc;                /* [n, T] grows with the stream */
  int64_t idcap;
  float *G;                 /* dense: [batch, P] */
  int factored;             /* -1 until the first record */
  ftensor ft[FI_MAX_PARAMS];
  int nf;
  float *Y;                 /* factored weights: [T*out, batch] */
  int64_t ycap;
  int64_t rows;             /* batch rows allocated: grown up to batch as records come */
} gstream;

/* Factored records: one ftensor per selected tensor, which must all be
 * dense-layer weights or biases. */
static void plan_factored(gstream *g, const fi_model *m, const fi_psel *ps) {
  for (int i = 0; i < ps->n; i++) {
    const char *name = fi_model_param_name(m, ps->idx[i]);
    int k;
    char suffix[16];
    if (sscanf(name, "layers.%d.%15s", &k, suffix) != 2 ||
        (strcmp(suffix, "weight") && strcmp(suffix, "bias")))
      fi_die("factored gradients cover dense layers only; selected parameter '%s' is not one", name);
    ftensor *f = &g->ft[g->nf++];
    memset(f, 0, sizeof *f);
    f->off = ps->off[i];
    f->numel = fi_model_param_numel(m, ps->idx[i]);
    f->bias = !strcmp(suffix, "bias");
    snprintf(f->akey, sizeof f->akey, "a.layers.%d", k);
    snprintf(f->dkey, sizeof f->dkey, "delta.layers.%d", k);
  }
}

/* The first record fixes a tensor's factor sizes: allocate its batch
 * buffers, and stack the T weight blocks of S once (one GEMM per batch). */
static void shape_factored(gstream *g, ftensor *f, const fi_record *rec, int64_t in, int64_t out) {
  const int64_t T = g->h->T, P = g->h->P;
  if (f->bias ? out != f->numel : in * out != f->numel)
    fi_rec_die(rec, "factors %s (%lld) / %s (%lld) do not fit the %s's %lld elements",
               f->akey, (long long)in, f->dkey, (long long)out, f->bias ? "bias" : "weight",
               (long long)f->numel);
  f->in = in;
  f->out = out;
  f->A = fi_aligned(fi_mul_size(g->rows, in, "factors"), sizeof(float));
  f->D = fi_aligned(fi_mul_size(g->rows, out, "factors"), sizeof(float));
  if (!f->bias) {
    f->SW = fi_aligned(fi_mul_size(T * out, in, "stacked ihvp"), sizeof(float));
    for (int64_t t = 0; t < T; t++)
      memcpy(f->SW + t * out * in, g->h->S + t * P + f->off, out * in * sizeof(float));
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
  if (g->factored) {
    for (int j = 0; j < g->nf; j++) {
      ftensor *f = &g->ft[j];
      if (!f->out) continue; /* sized at its first record */
      f->A = regrow(f->A, g->nb, rows, f->in);
      f->D = regrow(f->D, g->nb, rows, f->out);
    }
  } else {
    g->G = regrow(g->G, g->nb, rows, g->h->P);
  }
  g->rows = rows;
}

/* Append one record's gradient to the batch. */
static void add_record(gstream *g, const fi_record *rec) {
  const int64_t T = g->h->T, P = g->h->P, nb = g->nb;
  /* training gradients: under the gold label, over the ihvp records' parameters */
  fi_gradient_check(rec, "gold", NULL, g->pnames, g->h->params);
  if (g->n + nb >= g->idcap) {
    g->idcap = g->idcap ? 2 * g->idcap : 1024;
    g->ids = fi_realloc(g->ids, fi_mul_size(g->idcap, sizeof *g->ids, "ids"));
    g->sc = fi_realloc(g->sc, fi_mul_size(fi_mul_size(g->idcap, T, "scores"), sizeof(float), "scores"));
  }
  g->ids[g->n + nb] = fi_strdup(fi_rec_id(rec));
  make_room(g);
  if (!g->factored) {
    const float *v;
    fi_rec_f32(rec, "grad", P, &v, 1);
    memcpy(g->G + nb * P, v, P * sizeof(float));
  } else {
    for (int j = 0; j < g->nf; j++) {
      ftensor *f = &g->ft[j];
      const float *a, *d;
      int64_t in = fi_rec_f32(rec, f->akey, -1, &a, 1);
      int64_t out = fi_rec_f32(rec, f->dkey, -1, &d, 1);
      if (!f->out) shape_factored(g, f, rec, in, out);
      else if (in != f->in || out != f->out)
        fi_rec_die(rec, "factor sizes %lld/%lld differ from earlier records (%lld/%lld)",
                   (long long)in, (long long)out, (long long)f->in, (long long)f->out);
      memcpy(f->A + nb * in, a, in * sizeof(float));
      memcpy(f->D + nb * out, d, out * sizeof(float));
    }
  }
  g->nb++;
}

/* Score the batch: rows n..n+nb of sc. */
static void score_batch(gstream *g) {
  const int64_t T = g->h->T, P = g->h->P, nb = g->nb;
  const float *S = g->h->S;
  float *out = g->sc + g->n * T; /* [nb, T] */
  if (!g->factored) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)T, (int)P, -1.0f, g->G,
                (int)P, S, (int)P, 0.0f, out, (int)T);
  } else {
    memset(out, 0, nb * T * sizeof(float));
    for (int j = 0; j < g->nf; j++) {
      const ftensor *f = &g->ft[j];
      const int64_t in = f->in, o = f->out;
      if (f->bias) { /* g_b = delta: plain dots */
        for (int64_t i = 0; i < nb; i++)
          for (int64_t t = 0; t < T; t++)
            out[i * T + t] -= cblas_sdot((int)o, f->D + i * o, 1, S + t * P + f->off, 1);
      } else {       /* g_W . S_W = delta^T S_W a: Y = SW A^T, then rows of delta */
        if (T * o * nb > g->ycap) {
          free(g->Y);
          g->ycap = T * o * nb;
          g->Y = fi_aligned(g->ycap, sizeof(float));
        }
        const float *Y = g->Y;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(T * o), (int)nb, (int)in,
                    1.0f, f->SW, (int)in, f->A, (int)in, 0.0f, g->Y, (int)nb);
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

long long fi_score_gradient_stream(const fi_ihvps *h, const fi_model *m, const fi_psel *ps,
                                   int64_t batch, fi_reader *r, fi_writer *w) {
  const int64_t T = h->T;
  gstream g = {.h = h, .batch = batch, .factored = -1, .pnames = m ? fi_psel_names(m, ps) : NULL};
  for (;;) {
    const fi_record *rec = fi_read(r);
    if (rec && g.factored < 0) {
      g.factored = !fi_rec_has(rec, "grad");
      if (g.factored) {
        if (!m) fi_rec_die(rec, "no \"grad\" field: factored gradients need --model (and --params)");
        plan_factored(&g, m, ps);
      }
    }
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
  for (int64_t i = 0; i < n; i++) free(g.ids[i]);
  free(g.ids);
  free(g.sc);
  free(g.pnames);
  free(g.G);
  free(g.Y);
  for (int j = 0; j < g.nf; j++) {
    free(g.ft[j].A);
    free(g.ft[j].D);
    free(g.ft[j].SW);
  }
  return (long long)T;
}

/* ---- fused ---- */

long long fi_score_training_set(const fi_ihvps *h, const fi_model *m, const fi_psel *ps,
                                const fi_examples *train, int64_t batch, int with_l2,
                                fi_writer *w) {
  const int64_t N = fi_examples_count(train), T = h->T;
  if (batch > N) batch = N > 0 ? N : 1; /* buffers follow the data, not the option */
  fi_ws *ws = fi_ws_new(m);
  float *out = fi_aligned(fi_mul_size(T, batch, "scores"), sizeof(float));
  float *all = fi_aligned(fi_mul_size(T, N ? N : 1, "scores"), sizeof(float));
  int64_t *idx = fi_malloc(fi_mul_size(batch, sizeof *idx, "batch"));
  for (int64_t i0 = 0; i0 < N; i0 += batch) {
    int64_t nb = N - i0 < batch ? N - i0 : batch;
    for (int64_t i = 0; i < nb; i++) idx[i] = i0 + i;
    fi_influence_scores(m, ws, ps, train, idx, nb, h->S, (int)T, with_l2, out);
    for (int64_t t = 0; t < T; t++)
      for (int64_t i = 0; i < nb; i++) check_score(out[t * nb + i], fi_examples_id(train, i0 + i), h->ids[t]);
    for (int64_t t = 0; t < T; t++) memcpy(all + t * N + i0, out + t * nb, nb * sizeof(float));
    fi_progress("%lld/%lld training examples", (long long)(i0 + nb), (long long)N);
  }
  fi_progress_end();
  const char **tid = fi_malloc(fi_mul_size(N ? N : 1, sizeof *tid, "ids"));
  for (int64_t i = 0; i < N; i++) tid[i] = fi_examples_id(train, i);
  for (int64_t t = 0; t < T; t++) fi_scores_write(w, h->ids[t], tid, all + t * N, N);
  free(tid);
  free(out);
  free(all);
  free(idx);
  fi_ws_free(ws);
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
