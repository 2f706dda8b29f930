/* faiss_test.c - the project's FAISS C API (lib/faiss_c_api.cpp) against
 * brute force: exact neighbours, write/read round trip, error messages. */
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"

enum { D = 24, N = 700, NQ = 37, K = 15 };

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static float urand(void) { /* xorshift64*, uniform in [-1, 1) */
  rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
  return (float)((rng * 2685821657736338717ULL >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1;
}

/* Brute-force k nearest by squared L2 in double precision (selection sort
 * of the k smallest is plenty for N=700). */
static void brute(const float *x, const float *q, int64_t *lab, double *dist) {
  static double d2[N];
  static char used[N];
  for (int i = 0; i < N; i++) {
    double s = 0;
    for (int j = 0; j < D; j++) { double t = (double)x[i * D + j] - q[j]; s += t * t; }
    d2[i] = s; used[i] = 0;
  }
  for (int r = 0; r < K; r++) {
    int best = -1;
    for (int i = 0; i < N; i++)
      if (!used[i] && (best < 0 || d2[i] < d2[best])) best = i;
    used[best] = 1; lab[r] = best; dist[r] = d2[best];
  }
}

static int same_results(const FaissIndex *idx, const float *q, const int64_t *wl,
                        const float *wd, const char *what) {
  idx_t lab[NQ * K];
  float dist[NQ * K];
  int rc = faiss_Index_search(idx, NQ, q, K, dist, lab);
  int same = rc == 0 && memcmp(lab, wl, sizeof lab) == 0 && memcmp(dist, wd, sizeof dist) == 0;
  return ok(same, "%s: identical labels and distances (rc %d)", what, rc);
}

int main(void) {
  float *x = malloc(sizeof(float) * N * D), *q = malloc(sizeof(float) * NQ * D);
  for (int i = 0; i < N * D; i++) x[i] = urand();
  for (int i = 0; i < NQ * D; i++) q[i] = urand();

  FaissIndex *idx = NULL;
  ok(faiss_index_factory(&idx, D, "Flat", METRIC_L2) == 0 && idx, "index_factory(\"Flat\") succeeds");
  ok(faiss_Index_d(idx) == D, "d = %d", faiss_Index_d(idx));
  ok(faiss_Index_is_trained(idx) == 1, "Flat needs no training");
  ok(faiss_Index_metric_type(idx) == METRIC_L2, "metric is L2");
  ok(faiss_Index_train(idx, N, x) == 0, "train is a no-op for Flat");
  ok(faiss_Index_add(idx, 300, x) == 0 && faiss_Index_add(idx, N - 300, x + 300 * D) == 0,
     "add in two parts");
  ok(faiss_Index_ntotal(idx) == N, "ntotal = %lld", (long long)faiss_Index_ntotal(idx));

  /* Exact search: the same ids in the same order as brute force. */
  static idx_t lab[NQ * K];
  static float dist[NQ * K];
  ok(faiss_Index_search(idx, NQ, q, K, dist, lab) == 0, "search %d queries, k=%d", NQ, K);
  int lab_bad = 0;
  double dist_err = 0;
  for (int i = 0; i < NQ; i++) {
    int64_t wl[K];
    double wd[K];
    brute(x, q + i * D, wl, wd);
    for (int r = 0; r < K; r++) {
      if (lab[i * K + r] != wl[r]) lab_bad++;
      double e = fabs(dist[i * K + r] - wd[r]) / (wd[r] > 1 ? wd[r] : 1);
      if (e > dist_err) dist_err = e;
    }
  }
  ok(lab_bad == 0, "neighbours equal brute force (%d of %d differ)", lab_bad, NQ * K);
  ok(dist_err < 1e-4, "squared L2 distances equal brute force (max rel err %.2g)", dist_err);

  /* A stored vector is its own nearest neighbour at distance ~0. */
  idx_t self[1];
  float sd[1];
  int rc;
  self[0] = -1;
  sd[0] = -1;
  rc = faiss_Index_search(idx, 1, x + 123 * D, 1, sd, self);
  ok(rc == 0 && self[0] == 123 && sd[0] < 1e-4, "vector 123 finds itself (got %lld at %g)",
     (long long)self[0], sd[0]);
  float rec[D];
  ok(faiss_Index_reconstruct(idx, 5, rec) == 0 && memcmp(rec, x + 5 * D, sizeof rec) == 0,
     "reconstruct returns the stored vector");

  /* Round trip through a file, by name and by FILE*. */
  char path[] = "/tmp/faiss_test.XXXXXX";
  int fd = mkstemp(path);
  ok(fd >= 0, "temp file %s", path);
  close(fd);
  ok(faiss_write_index_fname(idx, path) == 0, "write_index_fname");
  FaissIndex *back = NULL;
  ok(faiss_read_index_fname(path, 0, &back) == 0 && back, "read_index_fname");
  ok(back && faiss_Index_ntotal(back) == N && faiss_Index_d(back) == D, "read back: same ntotal and d");
  if (back) same_results(back, q, lab, dist, "index read by name");
  faiss_Index_free(back);

  FILE *f = fopen(path, "wb");
  ok(f && faiss_write_index(idx, f) == 0 && fclose(f) == 0, "write_index to FILE*");
  f = fopen(path, "rb");
  back = NULL;
  ok(f && faiss_read_index(f, 0, &back) == 0 && back, "read_index from FILE*");
  if (f) fclose(f);
  if (back) same_results(back, q, lab, dist, "index read from FILE*");
  faiss_Index_free(back);

  /* Error paths: nonzero return and a message, never an abort. */
  FaissIndex *bad = NULL;
  rc = faiss_index_factory(&bad, D, "NoSuchIndexType", METRIC_L2);
  const char *msg = faiss_get_last_error();
  ok(rc != 0 && bad == NULL, "unknown factory string fails (rc %d)", rc);
  ok(msg && strlen(msg) > 0, "error message: %s", msg ? msg : "(null)");

  f = fopen(path, "wb");
  fputs("this is not a faiss index", f);
  fclose(f);
  rc = faiss_read_index_fname(path, 0, &bad);
  msg = faiss_get_last_error();
  ok(rc != 0 && msg && strlen(msg) > 0, "garbage index file fails: %s", msg ? msg : "(null)");
  unlink(path);
  rc = faiss_read_index_fname(path, 0, &bad);
  msg = faiss_get_last_error();
  ok(rc != 0 && msg && strstr(msg, path), "missing file fails naming it: %s", msg ? msg : "(null)");
  ok(faiss_Index_search(idx, 1, q, 0, dist, lab) != 0, "k = 0 is an error");
  ok(faiss_Index_search(idx, 1, NULL, 1, dist, lab) != 0, "null queries are an error, not a crash");

  /* An index that needs training refuses vectors until trained. */
  FaissIndex *ivf = NULL;
  ok(faiss_index_factory(&ivf, D, "IVF4,Flat", METRIC_L2) == 0, "index_factory(\"IVF4,Flat\")");
  ok(faiss_Index_is_trained(ivf) == 0, "IVF starts untrained");
  rc = faiss_Index_add(ivf, N, x);
  msg = faiss_get_last_error();
  ok(rc != 0 && msg && strlen(msg) > 0, "add before train fails: %s", msg ? msg : "(null)");
  ok(faiss_Index_train(ivf, N, x) == 0 && faiss_Index_is_trained(ivf) == 1, "train IVF");
  ok(faiss_Index_add(ivf, N, x) == 0 && faiss_Index_ntotal(ivf) == N, "add after train");
  rc = faiss_Index_search(ivf, 1, x + 7 * D, 1, sd, self);
  ok(rc == 0 && self[0] == 7, "IVF finds a stored vector (got %lld)", (long long)self[0]);
  ok(faiss_Index_reset(ivf) == 0 && faiss_Index_ntotal(ivf) == 0, "reset empties the index");
  faiss_Index_free(ivf);

  faiss_Index_free(idx);
  free(x);
  free(q);
  return done_testing();
}
