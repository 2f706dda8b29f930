/* influence.c - scoring training examples against ihvp records, fused
 * (influence.h); a gradient stream is scored in score_stream.c. */
#include "influence.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
