/* influence - influence scores -g_i . s_test of training examples on test
 * points (formats/scores.md). */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "opts.h"
#include "stream.h"
#include "util.h"

typedef struct {            /* the ihvp records: S [T, P] */
  int64_t T, P;
  char **ids;
  float *S;
  char *params;             /* their common "params", or NULL */
} ihvps;

static int64_t find_ihvp(const ihvps *h, const char *id) {
  for (int64_t t = 0; t < h->T; t++)
    if (!strcmp(h->ids[t], id)) return t;
  return -1;
}

static void load_ihvps(const char *path, ihvps *h) {
  memset(h, 0, sizeof *h);
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
    if (find_ihvp(h, fi_rec_id(rec)) >= 0) fi_rec_die(rec, "duplicate ihvp id");
    h->ids[h->T] = fi_strdup(fi_rec_id(rec));
    memcpy(h->S + h->T * P, v, P * sizeof(float));
    h->T++;
  }
  fi_reader_close(r);
  if (h->T == 0) fi_die("%s: no ihvp records", path);
}

static void write_scores(fi_writer *w, const char *id, char *const *ids, const float *sc, int64_t n) {
  fi_wbegin(w, id, 2);
  fi_wstrs(w, "ids", (const char *const *)ids, n);
  fi_wf32(w, "scores", sc, n);
  fi_wend(w);
}

/* A selected dense-layer tensor, for factored gradient records. */
typedef struct {
  int64_t off, numel;
  int bias;
  char akey[40], dkey[40];
  float *SW;                /* weights: S blocks stacked [T*out, in] */
  int64_t in, out;
} ftensor;

/* Mode (a): score a gradient stream (dense "grad" or factored) against S. */
static long long score_stream(const ihvps *h, fi_model *m, const fi_psel *ps, int64_t batch,
                              fi_writer *w) {
  const int64_t T = h->T, P = h->P;
  fi_reader *r = fi_reader_open("-");
  const fi_record *rec;
  int64_t n = 0, idcap = 0;
  char **ids = NULL;
  float *sc = NULL;         /* [n, T] grows with the stream */
  float *G = fi_aligned(fi_mul_size(batch, P, "gradient batch"), sizeof(float));
  float *Y = NULL;
  int64_t ycap = 0;
  int factored = -1;
  int nf = 0;
  ftensor ft[FI_MAX_PARAMS];
  float **A = NULL, **D = NULL; /* per tensor: [batch, in], [batch, out] */
  int64_t nb = 0;
  for (;;) {
    rec = fi_read(r);
    if (rec && factored < 0) {
      factored = !fi_rec_has(rec, "grad");
      if (factored) {
        if (!m) fi_rec_die(rec, "no \"grad\" field: factored gradients need --model (and --params)");
        for (int i = 0; i < ps->n; i++) {
          const char *name = fi_model_param_name(m, ps->idx[i]);
          int k;
          char suffix[16];
          if (sscanf(name, "layers.%d.%15s", &k, suffix) != 2 ||
              (strcmp(suffix, "weight") && strcmp(suffix, "bias")))
            fi_die("factored gradients cover dense layers only; selected parameter '%s' is not one", name);
          ftensor *f = &ft[nf++];
          memset(f, 0, sizeof *f);
          f->off = ps->off[i];
          f->numel = fi_model_param_numel(m, ps->idx[i]);
          f->bias = !strcmp(suffix, "bias");
          snprintf(f->akey, sizeof f->akey, "a.layers.%d", k);
          snprintf(f->dkey, sizeof f->dkey, "delta.layers.%d", k);
        }
        A = fi_calloc(nf, sizeof *A);
        D = fi_calloc(nf, sizeof *D);
      }
    }
    if (rec) {
      if (n + nb >= idcap) {
        idcap = idcap ? 2 * idcap : 1024;
        ids = fi_realloc(ids, fi_mul_size(idcap, sizeof *ids, "ids"));
        sc = fi_realloc(sc, fi_mul_size(fi_mul_size(idcap, T, "scores"), sizeof(float), "scores"));
      }
      ids[n + nb] = fi_strdup(fi_rec_id(rec));
      if (!factored) {
        const float *g;
        fi_rec_f32(rec, "grad", P, &g, 1);
        memcpy(G + nb * P, g, P * sizeof(float));
      } else {
        for (int j = 0; j < nf; j++) {
          ftensor *f = &ft[j];
          const float *a, *d;
          int64_t in = fi_rec_f32(rec, f->akey, -1, &a, 1);
          int64_t out = fi_rec_f32(rec, f->dkey, -1, &d, 1);
          if (!f->out) { /* the first record fixes the shapes */
            if (f->bias ? out != f->numel : in * out != f->numel)
              fi_rec_die(rec, "factors %s (%lld) / %s (%lld) do not fit the %s's %lld elements",
                         f->akey, (long long)in, f->dkey, (long long)out, f->bias ? "bias" : "weight",
                         (long long)f->numel);
            f->in = in;
            f->out = out;
            A[j] = fi_aligned(fi_mul_size(batch, in, "factors"), sizeof(float));
            D[j] = fi_aligned(fi_mul_size(batch, out, "factors"), sizeof(float));
            if (!f->bias) { /* stack the T weight blocks once: one GEMM per batch */
              f->SW = fi_aligned(fi_mul_size(T * out, in, "stacked ihvp"), sizeof(float));
              for (int64_t t = 0; t < T; t++)
                memcpy(f->SW + t * out * in, h->S + t * P + f->off, out * in * sizeof(float));
              if (T * out * batch > ycap) {
                free(Y);
                ycap = T * out * batch;
                Y = fi_aligned(ycap, sizeof(float));
              }
            }
          } else if (in != f->in || out != f->out) {
            fi_rec_die(rec, "factor sizes %lld/%lld differ from earlier records (%lld/%lld)",
                       (long long)in, (long long)out, (long long)f->in, (long long)f->out);
          }
          memcpy(A[j] + nb * in, a, in * sizeof(float));
          memcpy(D[j] + nb * out, d, out * sizeof(float));
        }
      }
      nb++;
    }
    if (nb == batch || (!rec && nb > 0)) {
      float *out = sc + n * T; /* [nb, T] */
      if (!factored) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)T, (int)P, -1.0f, G,
                    (int)P, h->S, (int)P, 0.0f, out, (int)T);
      } else {
        memset(out, 0, nb * T * sizeof(float));
        for (int j = 0; j < nf; j++) {
          ftensor *f = &ft[j];
          const int64_t in = f->in, o = f->out;
          if (f->bias) { /* g_b = delta: plain dots */
            for (int64_t i = 0; i < nb; i++)
              for (int64_t t = 0; t < T; t++)
                out[i * T + t] -= cblas_sdot((int)o, D[j] + i * o, 1, h->S + t * P + f->off, 1);
          } else {       /* g_W . S_W = delta^T S_W a: Y = SW A^T, then rows of delta */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(T * o), (int)nb, (int)in,
                        1.0f, f->SW, (int)in, A[j], (int)in, 0.0f, Y, (int)nb);
            for (int64_t t = 0; t < T; t++)
              for (int64_t i = 0; i < nb; i++) {
                double s = 0;
                const float *d = D[j] + i * o;
                for (int64_t q = 0; q < o; q++) s += (double)d[q] * Y[(t * o + q) * nb + i];
                out[i * T + t] -= (float)s;
              }
          }
        }
      }
      n += nb;
      nb = 0;
      fi_progress("%lld gradients", (long long)n);
    }
    if (!rec) break;
  }
  fi_progress_end();
  fi_reader_close(r);
  float *col = fi_malloc(fi_mul_size(n ? n : 1, sizeof(float), "scores"));
  for (int64_t t = 0; t < T; t++) {
    for (int64_t i = 0; i < n; i++) col[i] = sc[i * T + t];
    write_scores(w, h->ids[t], ids, col, n);
  }
  fi_log("%lld gradient records x %lld ihvp records", (long long)n, (long long)T);
  free(col);
  for (int64_t i = 0; i < n; i++) free(ids[i]);
  free(ids);
  free(sc);
  free(G);
  free(Y);
  for (int j = 0; j < nf; j++) {
    free(A[j]);
    free(D[j]);
    free(ft[j].SW);
  }
  free(A);
  free(D);
  return (long long)T;
}

int main(int argc, char **argv) {
  const char *ihvp = NULL, *model = NULL, *train = NULL, *cands = NULL, *params = NULL;
  long long batch, threads;
  int with_l2 = 0;
  const fi_opt opts[] = {
    {"ihvp", 0, FI_OPT_STR, &ihvp, NULL, "ihvp records (s_test per test point)", .metavar = "FILE",
     .required = 1},
    {"model", 'm', FI_OPT_STR, &model, NULL, "model file (fused mode, or factored gradients)", .metavar = "FILE"},
    {"train", 0, FI_OPT_STR, &train, NULL, "training examples: fused mode computes their gradients",
     .metavar = "FILE"},
    {"candidates", 0, FI_OPT_STR, &cands, NULL,
     "fused mode: score only each record's \"ids\" against the ihvp with the record's id",
     .metavar = "FILE"},
    {"params", 'p', FI_OPT_STR, &params, NULL, "selected parameters (default: the ihvp records' params)",
     .metavar = "LIST"},
    {"with-l2", 0, FI_OPT_FLAG, &with_l2, NULL, "fused mode: add l2*w to each training gradient"},
    {"batch", 'b', FI_OPT_INT, &batch, "256", "training examples per GEMM batch", .min = 1, .max = 1e7},
    {"threads", 't', FI_OPT_INT, &threads, "0",
     "BLAS threads (0: OpenBLAS's default, OPENBLAS_NUM_THREADS or all cores)", .min = 0, .max = 1024},
    {0}};
  const fi_tool tool = {
    "influence", "influence scores -grad L(z_i) . s_test (positive = harmful, negative = helpful)",
    "--ihvp IHVP [--model M --train EXAMPLES [--candidates C]] [< gradients] > scores", opts,
    "Without --train, reads gradient records (dense \"grad\", or the factored a.*/delta.* "
    "of grad --factored, which need --model) and scores every one against every ihvp "
    "record. With --model and --train, computes the training gradients itself, batch by "
    "batch, never holding N x P. Writes {id, ids, scores f32[n]} per test point, train ids "
    "in input (or candidate) order. See formats/scores.md."};
  fi_parse_options(&tool, argc, argv);
  /* all the work is BLAS calls from this one thread: its pool is the only one */
  if (threads > 0) openblas_set_num_threads((int)threads);
  if (train && !model) fi_usage_error("--train needs --model");
  if (cands && !train) fi_usage_error("--candidates needs --model and --train (fused mode)");
  if (with_l2 && !train) fi_usage_error("--with-l2 goes with fused mode (--train)");

  ihvps h;
  load_ihvps(ihvp, &h);
  if (!params) params = h.params ? h.params : "default";
  else if (h.params && strcmp(params, h.params))
    fi_usage_error("--params %s differs from the ihvp records' params '%s'", params, h.params);
  fi_model *m = NULL;
  fi_psel ps;
  if (model) {
    m = fi_model_load(model);
    char err[256];
    if (fi_psel_parse(m, params, &ps, err, sizeof err)) fi_usage_error("--params: %s", err);
    if (ps.size != h.P)
      fi_die("%s: ihvp vectors have %lld elements, the model's selected parameters (%s) %lld", ihvp,
             (long long)h.P, params, (long long)ps.size);
  }
  fi_writer *w = fi_writer_open("-");
  long long nout = 0;
  if (!train) {
    nout = score_stream(&h, m, &ps, batch, w);
  } else {
    fi_examples *tr = fi_examples_load(m, train, 1);
    const int64_t N = fi_examples_count(tr);
    fi_ws *ws = fi_ws_new(m);
    char **tid = fi_malloc(fi_mul_size(N ? N : 1, sizeof *tid, "ids"));
    if (!cands) {
      float *out = fi_aligned(fi_mul_size(h.T, batch, "scores"), sizeof(float));
      float *all = fi_aligned(fi_mul_size(h.T, N ? N : 1, "scores"), sizeof(float));
      int64_t *idx = fi_malloc(fi_mul_size(batch, sizeof *idx, "batch"));
      for (int64_t i0 = 0; i0 < N; i0 += batch) {
        int64_t nb = N - i0 < batch ? N - i0 : batch;
        for (int64_t i = 0; i < nb; i++) idx[i] = i0 + i;
        fi_influence_scores(m, ws, &ps, tr, idx, nb, h.S, (int)h.T, with_l2, out);
        for (int64_t t = 0; t < h.T; t++) memcpy(all + t * N + i0, out + t * nb, nb * sizeof(float));
        fi_progress("%lld/%lld training examples", (long long)(i0 + nb), (long long)N);
      }
      fi_progress_end();
      for (int64_t i = 0; i < N; i++) tid[i] = (char *)fi_examples_id(tr, i);
      for (int64_t t = 0; t < h.T; t++) write_scores(w, h.ids[t], tid, all + t * N, N);
      nout = h.T;
      free(out);
      free(all);
      free(idx);
      fi_log("%lld training examples x %lld ihvp records", (long long)N, (long long)h.T);
    } else {
      fi_reader *cr = fi_reader_open(cands);
      const fi_record *rec;
      int64_t *idx = NULL, icap = 0;
      float *sc = NULL;
      long long total = 0;
      while ((rec = fi_read(cr))) {
        int64_t t = find_ihvp(&h, fi_rec_id(rec));
        if (t < 0) fi_rec_die(rec, "no ihvp record with this id in %s", ihvp);
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
          idx[i] = fi_examples_find(tr, cid[i]);
          if (idx[i] < 0) fi_rec_die(rec, "candidate '%s' is not in %s", cid[i], train);
        }
        for (int64_t i0 = 0; i0 < k; i0 += batch) {
          int64_t nb = k - i0 < batch ? k - i0 : batch;
          fi_influence_scores(m, ws, &ps, tr, idx + i0, nb, h.S + t * h.P, 1, with_l2, sc + i0);
        }
        fi_wbegin(w, fi_rec_id(rec), 2);
        fi_wstrs(w, "ids", cid, k);
        fi_wf32(w, "scores", sc, k);
        fi_wend(w);
        total += k;
        nout++;
      }
      fi_reader_close(cr);
      fi_log("%lld candidate records, %lld scores", nout, total);
      free(idx);
      free(sc);
    }
    free(tid);
    fi_ws_free(ws);
    fi_examples_free(tr);
  }
  fi_done(nout);
  fi_writer_close(w);
  for (int64_t t = 0; t < h.T; t++) free(h.ids[t]);
  free(h.ids);
  free(h.S);
  free(h.params);
  if (m) fi_model_free(m);
  return 0;
}
