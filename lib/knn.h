/* knn.h - the project's FAISS access layer (formats/index.md).
 * Tools never call FAISS directly: they build, save, load and search an
 * index of record embeddings through this API, which keeps the map from
 * FAISS ids (insertion order) to record ids beside the FAISS index file and
 * turns every FAISS failure into a fi_die message. Distances are squared L2
 * (METRIC_L2), as FAISS reports them. */
#ifndef FI_KNN_H
#define FI_KNN_H
#include <stdint.h>

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

/* nq queries (row-major nq x dim) -> for each, the kk nearest: labels
 * (FAISS ids, -1 past the end when an approximate index finds fewer) and
 * squared L2 distances, nearest first. Dies when kk is not in
 * [1, size]. */
void fi_knn_search(const fi_knn *k, const float *q, int64_t nq, int64_t kk,
                   float *dist, int64_t *labels);

/* Threads for FAISS's OpenMP loops (n <= 0: OMP_NUM_THREADS, else all
 * cores); the sgemm FAISS calls gets one thread (see knn.c). */
void fi_knn_threads(int n);

/* Message of the last FAISS failure on this thread, without FAISS's
 * "Error in FUNCTION at FILE:LINE:" prefix. */
const char *fi_knn_faiss_error(void);

#endif
