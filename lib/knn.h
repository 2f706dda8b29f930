/* knn.h - the project's FAISS access layer (formats/index.md).
 * Tools never call FAISS directly: they build, save, load and search an
 * index of record embeddings through this API, which keeps the map from
 * FAISS ids (insertion order) to record ids beside the FAISS index file and
 * turns every FAISS failure into a fi_die message. Distances are squared L2
 * (METRIC_L2), as FAISS reports them. */
#ifndef FI_KNN_H
#define FI_KNN_H
#include <stdint.h>

#include "stream.h"
#include "util.h"

typedef struct fi_knn fi_knn;

#define FI_KNN_DEFAULT_SPEC "Flat" /* exact IndexFlatL2 */

/* An empty index for `spec` (any faiss index_factory string); the FAISS
 * index itself is created when the first vector fixes the dimension. */
fi_knn *fi_knn_new(const char *spec);
/* Append one vector of d floats under record id `id` (copied). Returns 0,
 * or -1 (nothing appended) when d differs from the first vector's; the
 * caller reports that against its record. */
int fi_knn_append(fi_knn *k, const char *id, const float *x, int64_t d);
/* Train if the index type needs it, and add whatever is still buffered.
 * Dies when no vector was appended. */
void fi_knn_finish(fi_knn *k);

/* Write PATH (the FAISS index, readable by any FAISS) and PATH.ids (the id
 * map, a tensor stream tied to PATH by size and CRC-32); each appears whole
 * or not at all. */
void fi_knn_save(const fi_knn *k, const char *path);
/* Load PATH and PATH.ids and check that they belong together; dies with a
 * clear message otherwise. */
fi_knn *fi_knn_load(const char *path);
void fi_knn_free(fi_knn *k);

int fi_knn_dim(const fi_knn *k);        /* 0 before the first vector */
int64_t fi_knn_size(const fi_knn *k);   /* vectors appended / indexed */
const char *fi_knn_spec(const fi_knn *k);
const char *fi_knn_id(const fi_knn *k, int64_t i); /* record id of FAISS id i */

/* ---- streams of embeddings (knn-select) ---- */
/* An index (spec as fi_knn_new) of the `field` vectors of every record of
 * r, FAISS id = record order. Dies naming the record on a duplicate id or a
 * vector whose size differs from the first one's, and on an empty input.
 * fi_knn_size() is then the number of records indexed. */
fi_knn *fi_knn_build(fi_reader *r, const char *spec, const char *field);

#define FI_KNN_MAX_BATCH (1 << 20)
typedef struct {
  int64_t k;            /* neighbours per query: 1 .. the index's size */
  int64_t batch;        /* queries per FAISS search call: 1 .. FI_KNN_MAX_BATCH */
  const char *field;    /* the embedding field of the query records */
  const char *mean_id;  /* NULL; or one query, the mean of all, written under this id */
  int64_t nprobe;       /* 0: the index's own; else the inverted lists an IVF index visits */
} fi_knn_query;

/* 0 if q's settings are valid, else -1 with e (setting "k", "batch" or
 * "nprobe": only an IVF index has one);
 * against the index k when it is not NULL (k at most its size), else only
 * what holds for any index, so a tool can check before loading one. */
int fi_knn_query_check(const fi_knn_query *q, const fi_knn *k, fi_err *e);
/* Candidates records {id, ids (nearest first), dist (squared L2)} for the
 * query records of r, written to w (formats/candidates.md). An
 * approximate index may find fewer than k: the found are written. The
 * settings are checked first (fi_knn_query_check): -1 with e before
 * anything is read. Else returns the number of query records read;
 * *seconds (may be NULL) gets the time spent in FAISS. Dies naming the
 * record on a vector of the wrong size. */
int64_t fi_knn_search_stream(const fi_knn *k, const fi_knn_query *q, fi_reader *r, fi_writer *w,
                             double *seconds, fi_err *e);

/* Threads for FAISS's OpenMP loops (n <= 0: OMP_NUM_THREADS, else all
 * cores); the sgemm FAISS calls gets one thread (see knn.c). */
void fi_knn_threads(int n);

/* Message of the last FAISS failure on this thread, without FAISS's
 * "Error in FUNCTION at FILE:LINE:" prefix. */
const char *fi_knn_faiss_error(void);

#endif
