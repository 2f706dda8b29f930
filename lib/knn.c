/* knn.c - FAISS index of record embeddings plus its id map
 * (formats/index.md). FAISS is reached only through its C API
 * (lib/faiss_c_api.cpp). */
#include "knn.h"

#include <cblas.h>
#include <errno.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

#include "faiss_lists.h"
#include "stream.h"
#include "strset.h"
#include "util.h"

/* Vectors go to FAISS in blocks of this many rows, so an index that needs
 * no training never holds a second full copy of the data. */
#define ADD_BLOCK 8192
/* Record ids per record of the id map (keeps records well under the
 * reader's size limit): version 2 cuts at this many ids or bytes. */
#define IDS_PER_CHUNK_V1 16384
#define IDS_PER_CHUNK (1 << 20)
#define IDS_CHUNK_BYTES (64 << 20)

#define IDS_FORMAT "fastif-knn-ids"
#define IDS_VERSION 2
#define IDS_HEADER_ID "fastif-index"

struct fi_knn {
  char *spec;
  char *path;          /* the file it was loaded from, for messages; NULL if built */
  FaissIndex *index;   /* NULL until the first vector */
  int d;
  int64_t n;           /* vectors appended (= index ntotal once finished) */
  /* vectors not yet given to FAISS */
  float *buf;
  int64_t nbuf, capbuf;
  /* record ids: NUL-terminated strings packed in one arena */
  char *arena;
  size_t arena_len, arena_cap;
  size_t *off;
  int64_t cap_off;
};

const char *fi_knn_faiss_error(void) {
  const char *m = faiss_get_last_error();
  if (!m || !*m) return "unknown FAISS error";
  /* FAISS prefixes "Error in FUNCTION at FILE:LINE: "; users need the rest. */
  /* A failure inside a search comes wrapped once per level it crossed,
   * each adding its prefix ("search interrupted with: TYPE  " from the
   * loop over queries). */
  for (;;) {
    if (strncmp(m, "Error in ", 9) == 0) {
      const char *at = strstr(m, " at ");
      const char *colon = at ? strchr(at + 4, ':') : NULL;
      const char *rest = colon ? strstr(colon + 1, ": ") : NULL;
      if (!rest || !rest[2]) return m;
      m = rest + 2;
    } else if (strncmp(m, "search interrupted with: ", 25) == 0 && m[25]) {
      /* then the exception's type and two spaces (IndexIVF.cpp) */
      m += 25;
      const char *sp = strchr(m, ' ');
      if (sp && sp[1] == ' ' && sp[2]) m = sp + 2;
    } else {
      return m;
    }
  }
}

void fi_knn_threads(int n) {
  if (n <= 0) n = omp_get_max_threads(); /* OMP_NUM_THREADS, else all cores */
  omp_set_num_threads(n);
  /* FAISS runs sgemm on its master thread between OpenMP regions; a second
   * pool of OpenBLAS threads then spins against the idle-spinning OpenMP
   * workers (measured here: 2+2 threads up to 4x slower than 1+1), so
   * BLAS gets one thread and FAISS's OpenMP gets the rest. */
  openblas_set_num_threads(1);
}

fi_knn *fi_knn_new(const char *spec) {
  fi_knn *k = fi_calloc(1, sizeof *k);
  k->spec = fi_strdup(spec && *spec ? spec : FI_KNN_DEFAULT_SPEC);
  return k;
}

void fi_knn_free(fi_knn *k) {
  if (!k) return;
  if (k->index) faiss_Index_free(k->index);
  free(k->spec);
  free(k->path);
  free(k->buf);
  free(k->arena);
  free(k->off);
  free(k);
}

int fi_knn_dim(const fi_knn *k) { return k->d; }
int64_t fi_knn_size(const fi_knn *k) { return k->n; }
const char *fi_knn_spec(const fi_knn *k) { return k->spec; }
const char *fi_knn_id(const fi_knn *k, int64_t i) {
  if (i < 0 || i >= k->n) fi_die("kNN index: FAISS id %lld out of range [0, %lld)", (long long)i, (long long)k->n);
  return k->arena + k->off[i];
}

static void push_id(fi_knn *k, const char *id) {
  size_t len = strlen(id) + 1;
  if (k->arena_len + len > k->arena_cap) {
    size_t cap = k->arena_cap ? k->arena_cap : 1 << 16;
    while (cap < k->arena_len + len) cap = fi_mul_size(cap, 2, "id map");
    k->arena = fi_realloc(k->arena, cap);
    k->arena_cap = cap;
  }
  if (k->n >= k->cap_off) {
    k->cap_off = k->cap_off ? 2 * k->cap_off : 4096;
    k->off = fi_realloc(k->off, fi_mul_size((size_t)k->cap_off, sizeof *k->off, "id map"));
  }
  memcpy(k->arena + k->arena_len, id, len);
  k->off[k->n] = k->arena_len;
  k->arena_len += len;
}

static void add_rows(fi_knn *k, const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i += ADD_BLOCK) {
    int64_t m = n - i < ADD_BLOCK ? n - i : ADD_BLOCK;
    if (faiss_Index_add(k->index, m, x + i * k->d) != 0)
      fi_die("kNN index '%s': adding vectors: %s", k->spec, fi_knn_faiss_error());
  }
}

int fi_knn_append(fi_knn *k, const char *id, const float *x, int64_t d) {
  if (!k->index) {
    if (d <= 0 || d > (1 << 30)) fi_die("kNN index: bad vector dimension %lld", (long long)d);
    if (faiss_index_factory(&k->index, (int)d, k->spec, METRIC_L2) != 0)
      fi_die("kNN index spec '%s' (dimension %lld): %s", k->spec, (long long)d, fi_knn_faiss_error());
    k->d = (int)d;
  } else if (d != k->d) {
    return -1;
  }
  if (k->nbuf >= k->capbuf) {
    k->capbuf = k->capbuf ? 2 * k->capbuf : ADD_BLOCK;
    k->buf = fi_realloc(k->buf, fi_mul_size(fi_mul_size((size_t)k->capbuf, (size_t)k->d, "vectors"),
                                            sizeof(float), "vectors"));
  }
  memcpy(k->buf + k->nbuf * k->d, x, (size_t)k->d * sizeof(float));
  k->nbuf++;
  push_id(k, id);
  k->n++;
  /* Trained index types (Flat) take vectors as they come. */
  if (k->nbuf == ADD_BLOCK && faiss_Index_is_trained(k->index)) {
    add_rows(k, k->buf, k->nbuf);
    k->nbuf = 0;
  }
  return 0;
}

void fi_knn_finish(fi_knn *k) {
  if (k->n == 0) fi_die("kNN index: no vectors to index (empty input)");
  if (!faiss_Index_is_trained(k->index)) {
    /* Only untrained types buffer everything: train on all of it. */
    fi_progress("training the index '%s' on %lld vectors", k->spec, (long long)k->nbuf);
    if (faiss_Index_train(k->index, k->nbuf, k->buf) != 0)
      fi_die("kNN index '%s': training on %lld vectors: %s", k->spec, (long long)k->nbuf,
             fi_knn_faiss_error());
  }
  fi_progress_count(NULL, 0);
  fi_progress("adding %lld vectors", (long long)k->nbuf);
  add_rows(k, k->buf, k->nbuf);
  fi_progress_end();
  k->nbuf = 0;
  free(k->buf);
  k->buf = NULL;
  k->capbuf = 0;
  int64_t nt = faiss_Index_ntotal(k->index);
  if (nt != k->n)
    fi_die("kNN index '%s': FAISS holds %lld vectors, expected %lld", k->spec, (long long)nt, (long long)k->n);
}

/* ---- streams of embeddings ---- */

fi_knn *fi_knn_build(fi_reader *r, const char *spec, const char *field) {
  fi_knn *k = fi_knn_new(spec);
  fi_strset *seen = fi_strset_new();
  const fi_record *rec;
  fi_progress("reading");
  fi_progress_count("embeddings", 0);
  while ((rec = fi_read(r))) {
    const float *x;
    int64_t prev = fi_strset_add(seen, fi_rec_id(rec));
    if (prev < 0) fi_rec_die(rec, "duplicate id (also record #%lld)", (long long)(-1 - prev));
    int64_t d = fi_rec_f32(rec, field, -1, &x, 1);
    if (fi_knn_append(k, fi_rec_id(rec), x, d) != 0)
      fi_rec_die(rec, "'%s' has %lld elements, but the records before have %d", field, (long long)d, k->d);
    fi_progress_add(1);
  }
  fi_strset_free(seen);
  if (k->n == 0) fi_die("no training embeddings on %s: nothing to index", fi_reader_name(r));
  fi_knn_finish(k);
  return k;
}

/* Result buffers are 12 bytes per neighbour: a huge k gets smaller batches. */
#define RESULT_CAP (1 << 23)

/* The pending batch of queries: vectors, and their ids packed (records
 * die at the next read). */
typedef struct {
  int64_t cap, n;
  float *q, *dist;
  int64_t *lab;
  size_t *off, len, idcap;
  char *ids;
} qbatch;

static void qbatch_add(qbatch *b, int d, const char *id, const float *x) {
  size_t len = strlen(id) + 1;
  while (b->len + len > b->idcap) b->ids = fi_realloc(b->ids, b->idcap = fi_mul_size(b->idcap, 2, "query ids"));
  memcpy(b->ids + b->len, id, len);
  b->off[b->n] = b->len;
  b->len += len;
  memcpy(b->q + b->n * d, x, (size_t)d * sizeof(float));
  b->n++;
}

static void qbatch_search(const fi_knn *k, qbatch *b, int64_t kk, const char **names, fi_writer *w,
                          double *seconds) {
  if (b->n == 0) return;
  double t0 = fi_now();
  if (faiss_Index_search(k->index, b->n, b->q, kk, b->dist, b->lab) != 0)
    fi_die("kNN search of %lld queries (k=%lld): %s", (long long)b->n, (long long)kk, fi_knn_faiss_error());
  *seconds += fi_now() - t0;
  for (int64_t i = 0; i < b->n; i++) {
    /* Approximate index types may find fewer than k: keep the found. */
    int64_t m = 0;
    while (m < kk && b->lab[i * kk + m] >= 0) names[m] = fi_knn_id(k, b->lab[i * kk + m]), m++;
    fi_wbegin(w, b->ids + b->off[i], 2);
    fi_wstrs(w, "ids", names, m);
    fi_wf32(w, "dist", b->dist + i * kk, m);
    fi_wend(w);
  }
  b->n = 0;
  b->len = 0;
}

int fi_knn_query_check(const fi_knn_query *q, const fi_knn *k, fi_err *e) {
  if (q->k < 1) return fi_err_set(e, FI_ERR_USAGE, "k", "must be at least 1, not %lld", (long long)q->k);
  if (q->batch < 1 || q->batch > FI_KNN_MAX_BATCH)
    return fi_err_set(e, FI_ERR_USAGE, "batch", "must be between 1 and %d, not %lld", FI_KNN_MAX_BATCH,
                      (long long)q->batch);
  if (q->nprobe < 0 || q->nprobe > INT32_MAX)
    return fi_err_set(e, FI_ERR_USAGE, "nprobe", "must be between 1 and %d, not %lld", INT32_MAX,
                      (long long)q->nprobe);
  if (k && q->k > k->n)
    return fi_err_set(e, FI_ERR_DATA, "k", "k=%lld is larger than the index %s (%lld vectors)", (long long)q->k,
                      k->path ? k->path : "", (long long)k->n);
  return 0;
}

/* nprobe on the index (a query-time setting, not saved with it); FAISS caps
 * it at the number of lists. */
static int set_nprobe(const fi_knn *k, int64_t nprobe, fi_err *e) {
  FaissParameterSpace *space = NULL;
  if (faiss_ParameterSpace_new(&space) != 0) fi_die("FAISS parameter space: %s", fi_knn_faiss_error());
  int rc = faiss_ParameterSpace_set_index_parameter(space, k->index, "nprobe", (double)nprobe);
  faiss_ParameterSpace_free(space);
  if (rc != 0)
    return fi_err_set(e, FI_ERR_DATA, "nprobe", "the index %s ('%s') has no inverted lists to probe (%s)",
                      k->path ? k->path : "", k->spec, fi_knn_faiss_error());
  return 0;
}

int64_t fi_knn_search_stream(const fi_knn *k, const fi_knn_query *q, fi_reader *r, fi_writer *w,
                             double *seconds, fi_err *e) {
  if (fi_knn_query_check(q, k, e)) return -1;
  if (q->nprobe > 0 && set_nprobe(k, q->nprobe, e)) return -1;
  const int d = k->d;
  const int64_t kk = q->k;
  qbatch b = {.cap = q->mean_id ? 1 : q->batch, .idcap = 4096};
  if (b.cap > 1 && b.cap * kk > RESULT_CAP) b.cap = RESULT_CAP / kk > 1 ? RESULT_CAP / kk : 1;
  b.q = fi_aligned(fi_mul_size((size_t)b.cap, (size_t)d, "query batch"), sizeof(float));
  b.dist = fi_malloc(fi_mul_size(fi_mul_size((size_t)b.cap, (size_t)kk, "results"), sizeof(float), "results"));
  b.lab = fi_malloc(fi_mul_size(fi_mul_size((size_t)b.cap, (size_t)kk, "results"), sizeof(int64_t), "results"));
  b.off = fi_malloc(fi_mul_size((size_t)b.cap, sizeof *b.off, "query batch"));
  b.ids = fi_malloc(b.idcap);
  const char **names = fi_malloc(fi_mul_size((size_t)kk, sizeof *names, "results"));
  double *sum = q->mean_id ? fi_calloc((size_t)d, sizeof *sum) : NULL;
  double tsearch = 0;
  int64_t n = 0;
  const fi_record *rec;
  fi_progress("searching %lld vectors, k=%lld", (long long)k->n, (long long)kk);
  fi_progress_count("queries", 0);
  while ((rec = fi_read(r))) {
    const float *x;
    int64_t m = fi_rec_f32(rec, q->field, -1, &x, 1);
    if (m != d)
      fi_rec_die(rec, "'%s' has %lld elements, but the index %s has dimension %d", q->field, (long long)m,
                 k->path ? k->path : "", d);
    n++;
    if (sum) {
      for (int j = 0; j < d; j++) sum[j] += x[j];
      continue;
    }
    qbatch_add(&b, d, fi_rec_id(rec), x);
    if (b.n == b.cap) qbatch_search(k, &b, kk, names, w, &tsearch);
    fi_progress_add(1);
  }
  if (sum) {
    if (n == 0) fi_die("no query embeddings on %s to average", fi_reader_name(r));
    float *mean = fi_malloc((size_t)d * sizeof *mean);
    for (int j = 0; j < d; j++) mean[j] = (float)(sum[j] / (double)n);
    qbatch_add(&b, d, q->mean_id, mean);
    free(mean);
  }
  qbatch_search(k, &b, kk, names, w, &tsearch);
  fi_progress_end();
  if (seconds) *seconds = tsearch;
  free(b.q);
  free(b.dist);
  free(b.lab);
  free(b.off);
  free(b.ids);
  free(names);
  free(sum);
  return n;
}

/* ---- files ----
 * Writing: FAISS writes through lib/faiss_lists.cpp, which CRCs the bytes
 * on the way and finds where an IVF index's inverted lists lie, so the id
 * map names the whole file and each list without a second pass.
 * Reading an index with such a list table (the id map's "lists" record)
 * costs what the query touches: the file is mapped, the bytes outside the
 * lists are CRC-checked before FAISS parses them, and each list is checked
 * when a search first touches it. Any other index (Flat, whose search reads
 * every byte anyway; an id map of version 1) is read through a stdio stream
 * that CRCs every byte on the way. */

/* FAISS writes one field at a time: gather small writes. */
#define OUT_BUF (1 << 20)
typedef struct {
  int fd;
  char *buf;
  size_t n;
} out_buf;

static int out_flush(out_buf *o) {
  int rc = o->n ? fi_write_all(o->fd, o->buf, o->n) : 0;
  o->n = 0;
  return rc;
}

static int out_write(void *c, const void *p, size_t n) {
  out_buf *o = c;
  if (o->n + n > OUT_BUF && out_flush(o)) return -1;
  if (n >= OUT_BUF) return fi_write_all(o->fd, p, n);
  memcpy(o->buf + o->n, p, n);
  o->n += n;
  return 0;
}

typedef struct {
  int fd;
  uLong crc;
  uint64_t bytes;
} crc_io;

static ssize_t crc_read(void *c, char *buf, size_t n) {
  crc_io *io = c;
  ssize_t r;
  do r = read(io->fd, buf, n);
  while (r < 0 && errno == EINTR);
  if (r > 0) {
    io->crc = crc32_z(io->crc, (const Bytef *)buf, (size_t)r);
    io->bytes += (uint64_t)r;
  }
  return r;
}

static char *ids_path(const char *path) {
  size_t n = strlen(path) + 5;
  char *p = fi_malloc(n);
  snprintf(p, n, "%s.ids", path);
  return p;
}

static void write_lists(fi_writer *w, const fi_faiss_lists *l) {
  int64_t *crc = fi_malloc(fi_mul_size((size_t)l->nlist, sizeof *crc, "list table"));
  for (int64_t i = 0; i < l->nlist; i++) crc[i] = l->crc[i];
  int64_t shape[1] = {l->nlist};
  fi_wbegin(w, "lists", 7);
  fi_wint(w, "nlist", l->nlist);
  fi_wint(w, "code_size", l->code_size);
  fi_wint(w, "begin", l->begin);
  fi_wint(w, "end", l->end);
  fi_wint(w, "rest_crc32", l->rest_crc);
  fi_wtensor(w, "sizes", FI_I64, 1, shape, l->sizes);
  fi_wtensor(w, "crc32", FI_I64, 1, shape, crc);
  fi_wend(w);
  free(crc);
}

void fi_knn_save(const fi_knn *k, const char *path) {
  if (!k->index || k->nbuf) fi_die("kNN index: save before finish");
  char *idp = ids_path(path);

  fi_atomic *a = fi_atomic_begin(path);
  out_buf o = {.fd = fi_atomic_fd(a), .buf = fi_malloc(OUT_BUF)};
  uint64_t bytes;
  uint32_t crc;
  fi_faiss_lists lists;
  if (fi_faiss_write_index(k->index, out_write, &o, &bytes, &crc, &lists) != 0)
    fi_die("writing %s: %s", path, fi_knn_faiss_error());
  if (out_flush(&o)) fi_die("writing %s: %s", path, strerror(errno));
  free(o.buf);

  /* The id map first, then the index: PATH appearing means the pair is
   * complete; a crash between the renames leaves a pair the loader rejects
   * by size and CRC. */
  fi_writer *w = fi_writer_open(idp);
  fi_wbegin(w, IDS_HEADER_ID, 10);
  fi_wstr(w, "format", IDS_FORMAT);
  fi_wint(w, "version", IDS_VERSION);
  fi_wstr(w, "spec", k->spec);
  fi_wstr(w, "metric", "l2");
  fi_wint(w, "d", k->d);
  fi_wint(w, "ntotal", k->n);
  fi_wint(w, "index_bytes", (int64_t)bytes);
  fi_wint(w, "index_crc32", (int64_t)crc);
  fi_wint(w, "ids_bytes", (int64_t)k->arena_len);
  fi_wint(w, "lists", lists.nlist > 0);
  fi_wend(w);
  if (lists.nlist > 0) write_lists(w, &lists);
  /* The ids as stored in memory: each followed by a NUL byte. */
  char cid[64];
  for (int64_t first = 0, c = 0; first < k->n; c++) {
    size_t start = k->off[first], stop = start;
    int64_t m = 0;
    while (first + m < k->n && m < IDS_PER_CHUNK) {
      size_t e = first + m + 1 < k->n ? k->off[first + m + 1] : k->arena_len;
      if (m > 0 && e - start > IDS_CHUNK_BYTES) break;
      stop = e;
      m++;
    }
    int64_t shape[1] = {(int64_t)(stop - start)};
    snprintf(cid, sizeof cid, "ids.%lld", (long long)c);
    fi_wbegin(w, cid, 3);
    fi_wint(w, "first", first);
    fi_wint(w, "n", m);
    fi_wtensor(w, "ids", FI_U8, 1, shape, k->arena + start);
    fi_wend(w);
    first += m;
  }
  fi_writer_close(w);
  fi_atomic_commit(a);
  fi_faiss_lists_free(&lists);
  free(idp);
}

static int64_t header_int(const fi_record *rec, const char *key) {
  int64_t v;
  fi_rec_int(rec, key, &v, 1);
  return v;
}

/* Version 1: chunks of string arrays. */
static void read_ids_v1(fi_knn *k, fi_reader *r, const char *idp, int64_t ntotal) {
  const fi_record *rec;
  while ((rec = fi_read(r))) {
    int64_t first = header_int(rec, "first");
    if (first != k->n)
      fi_rec_die(rec, "%s: id chunk starts at %lld, expected %lld", idp, (long long)first, (long long)k->n);
    const char **ids;
    int64_t m = fi_rec_strs(rec, "ids", &ids, 1);
    if (k->n + m > ntotal) fi_rec_die(rec, "%s: more ids than ntotal=%lld", idp, (long long)ntotal);
    for (int64_t i = 0; i < m; i++) {
      push_id(k, ids[i]);
      k->n++;
    }
  }
}

/* Version 2: chunks of NUL-terminated ids in one u8 tensor each, copied
 * into the arena as they are; each id is checked as the reader checks a
 * record id. */
static void read_ids_v2(fi_knn *k, fi_reader *r, const char *idp, int64_t ntotal, int64_t ids_bytes) {
  k->arena = fi_malloc(ids_bytes > 0 ? (size_t)ids_bytes : 1);
  k->arena_cap = (size_t)ids_bytes;
  k->off = fi_malloc(fi_mul_size((size_t)ntotal, sizeof *k->off, "id map"));
  k->cap_off = ntotal;
  const fi_record *rec;
  while ((rec = fi_read(r))) {
    int64_t first = header_int(rec, "first"), m = header_int(rec, "n");
    if (first != k->n)
      fi_rec_die(rec, "%s: id chunk starts at %lld, expected %lld", idp, (long long)first, (long long)k->n);
    if (m < 1 || m > ntotal - k->n)
      fi_rec_die(rec, "%s: %lld ids here, %lld before: more than ntotal=%lld", idp, (long long)m, (long long)k->n,
                 (long long)ntotal);
    fi_tensor t;
    fi_rec_tensor(rec, "ids", &t, 1);
    if (t.dtype != FI_U8 || t.ndim != 1) fi_rec_die(rec, "%s: 'ids' must be a u8 vector", idp);
    if (t.nbytes > k->arena_cap - k->arena_len)
      fi_rec_die(rec, "%s: more id bytes than ids_bytes=%lld", idp, (long long)ids_bytes);
    const unsigned char *b = t.data;
    size_t s0 = 0, base = k->arena_len;
    int64_t got = 0;
    for (size_t i = 0; i < t.nbytes; i++) {
      unsigned char ch = b[i];
      if (ch == 0) {
        if (i == s0 || got == m)
          fi_rec_die(rec, "%s: %s at byte %zu", idp, got == m ? "more ids than 'n'" : "an empty id", i);
        k->off[k->n + got++] = base + s0;
        s0 = i + 1;
      } else if (ch <= 0x20 || ch == 0x7f || i - s0 >= 4096) {
        fi_rec_die(rec, "%s: id #%lld is not a record id (whitespace, control character or over 4096 bytes)", idp,
                   (long long)(k->n + got));
      }
    }
    if (s0 != t.nbytes || got != m)
      fi_rec_die(rec, "%s: holds %lld whole ids, 'n' says %lld", idp, (long long)got, (long long)m);
    memcpy(k->arena + base, b, t.nbytes);
    k->arena_len += t.nbytes;
    k->n += m;
  }
}

static void read_lists(const fi_record *rec, fi_faiss_lists *l, const char *idp) {
  if (strcmp(fi_rec_id(rec), "lists") != 0) fi_rec_die(rec, "%s: expected the 'lists' record here", idp);
  int64_t rest = header_int(rec, "rest_crc32");
  l->nlist = header_int(rec, "nlist");
  l->code_size = header_int(rec, "code_size");
  l->begin = header_int(rec, "begin");
  l->end = header_int(rec, "end");
  if (l->nlist < 1 || l->code_size < 1 || l->begin < 0 || l->end < l->begin || rest < 0 || rest > UINT32_MAX)
    fi_rec_die(rec, "%s: bad list table (nlist %lld, code_size %lld, bytes %lld..%lld, rest_crc32 %lld)", idp,
               (long long)l->nlist, (long long)l->code_size, (long long)l->begin, (long long)l->end,
               (long long)rest);
  l->rest_crc = (uint32_t)rest;
  fi_tensor ts, tc;
  fi_rec_tensor(rec, "sizes", &ts, 1);
  fi_rec_tensor(rec, "crc32", &tc, 1);
  if (ts.dtype != FI_I64 || ts.ndim != 1 || ts.n != l->nlist || tc.dtype != FI_I64 || tc.ndim != 1 ||
      tc.n != l->nlist)
    fi_rec_die(rec, "%s: 'sizes' and 'crc32' must be i64 vectors of nlist=%lld", idp, (long long)l->nlist);
  l->sizes = fi_malloc(ts.nbytes);
  l->crc = fi_malloc(fi_mul_size((size_t)l->nlist, sizeof *l->crc, "list table"));
  memcpy(l->sizes, ts.data, ts.nbytes); /* tensor data may be unaligned */
  for (int64_t i = 0; i < l->nlist; i++) {
    int64_t c;
    memcpy(&c, (const char *)tc.data + i * 8, 8);
    if (l->sizes[i] < 0 || c < 0 || c > UINT32_MAX)
      fi_rec_die(rec, "%s: list %lld: bad size %lld or CRC %lld", idp, (long long)i, (long long)l->sizes[i],
                 (long long)c);
    l->crc[i] = (uint32_t)c;
  }
}

static _Noreturn void not_the_pair(const char *path, const char *idp, const char *what, unsigned long got,
                                   unsigned long long want) {
  fi_die("kNN index %s (%s %08lx) is not the one its id map %s describes (%08llx): the pair is from different "
         "builds, or the file is corrupt; rebuild with knn-select --build",
         path, what, got, idp, want);
}

static void load_mapped(fi_knn *k, int fd, int64_t bytes, const fi_faiss_lists *l, const char *path,
                        const char *idp) {
  if (bytes <= 0 || l->end > bytes)
    fi_die("kNN index %s has %lld bytes, its id map %s puts inverted lists up to byte %lld; rebuild with "
           "knn-select --build", path, (long long)bytes, idp, (long long)l->end);
  void *map = mmap(NULL, (size_t)bytes, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) fi_die("mapping kNN index %s: %s", path, strerror(errno));
  const Bytef *p = map;
  uLong c = crc32_z(crc32_z(0L, Z_NULL, 0), p, (size_t)l->begin);
  c = crc32_z(c, p + l->end, (size_t)(bytes - l->end));
  if ((uint32_t)c != l->rest_crc) {
    munmap(map, (size_t)bytes);
    not_the_pair(path, idp, "CRC-32 of the bytes outside its inverted lists", c, l->rest_crc);
  }
  if (fi_faiss_read_index_mapped(map, (size_t)bytes, l, path, &k->index) != 0) {
    munmap(map, (size_t)bytes);
    fi_die("reading kNN index %s: %s", path, fi_knn_faiss_error());
  }
}

static void load_stream(fi_knn *k, int fd, const char *path, const char *idp, int64_t want_bytes,
                        int64_t want_crc) {
  crc_io io = {.fd = fd, .crc = crc32_z(0L, Z_NULL, 0)};
  cookie_io_functions_t fns = {.read = crc_read};
  FILE *f = fopencookie(&io, "r", fns);
  if (!f) fi_die("fopencookie: %s", strerror(errno));
  setvbuf(f, NULL, _IOFBF, 1 << 20);
  if (faiss_read_index(f, 0, &k->index) != 0) fi_die("reading kNN index %s: %s", path, fi_knn_faiss_error());
  /* Drain what FAISS did not read so size and CRC cover the whole file. */
  char tail[4096];
  while (fread(tail, 1, sizeof tail, f) > 0) {}
  if (ferror(f)) fi_die("reading %s: %s", path, strerror(errno));
  fclose(f);
  if ((int64_t)io.bytes != want_bytes)
    fi_die("kNN index %s has %llu bytes, its id map %s says %lld: the pair is from different builds; rebuild "
           "with knn-select --build", path, (unsigned long long)io.bytes, idp, (long long)want_bytes);
  if ((int64_t)io.crc != want_crc) not_the_pair(path, idp, "CRC-32", io.crc, (unsigned long long)want_crc);
}

fi_knn *fi_knn_load(const char *path) {
  char *idp = ids_path(path);
  const char *name;
  int fd = fi_open_input(path, &name); /* refuses a directory, and "-" once stdin feeds the queries */
  if (access(idp, R_OK) != 0)
    fi_die("kNN index %s has no id map %s (%s); build both with knn-select --build", path, idp,
           strerror(errno));

  fi_reader *r = fi_reader_open(idp);
  const fi_record *rec = fi_read(r);
  if (!rec || strcmp(fi_rec_id(rec), IDS_HEADER_ID) != 0)
    fi_die("%s: not a kNN id map (first record must be '" IDS_HEADER_ID "')", idp);
  const char *fmt = fi_rec_str(rec, "format", NULL, 1);
  if (strcmp(fmt, IDS_FORMAT) != 0) fi_rec_die(rec, "%s: format '%s', expected '" IDS_FORMAT "'", idp, fmt);
  int64_t version = header_int(rec, "version");
  if (version != 1 && version != IDS_VERSION)
    fi_rec_die(rec, "%s: version %lld, this build reads versions 1 and %d; rebuild with knn-select --build", idp,
               (long long)version, IDS_VERSION);
  fi_knn *k = fi_knn_new(fi_rec_str(rec, "spec", NULL, 1));
  k->path = fi_strdup(path);
  int64_t d = header_int(rec, "d"), ntotal = header_int(rec, "ntotal");
  int64_t want_bytes = header_int(rec, "index_bytes"), want_crc = header_int(rec, "index_crc32");
  if (d <= 0 || d > (1 << 30) || ntotal <= 0) fi_rec_die(rec, "%s: bad d=%lld or ntotal=%lld", idp, (long long)d, (long long)ntotal);
  k->d = (int)d;
  fi_faiss_lists lists = {0};
  if (version == 1) {
    read_ids_v1(k, r, idp, ntotal);
  } else {
    int64_t ids_bytes = header_int(rec, "ids_bytes"), has_lists = header_int(rec, "lists");
    /* Declared sizes against the file before allocating for them; each id
     * takes at least two bytes (itself and its NUL). */
    struct stat ist;
    if (stat(idp, &ist) == 0 && S_ISREG(ist.st_mode) && (ids_bytes < 0 || ids_bytes > (int64_t)ist.st_size))
      fi_rec_die(rec, "%s: ids_bytes=%lld, but the file has %lld bytes", idp, (long long)ids_bytes,
                 (long long)ist.st_size);
    if (ids_bytes < 0 || ntotal > ids_bytes / 2)
      fi_rec_die(rec, "%s: ntotal=%lld ids cannot fit in ids_bytes=%lld", idp, (long long)ntotal,
                 (long long)ids_bytes);
    if (has_lists) {
      if (!(rec = fi_read(r))) fi_die("%s: ends before its 'lists' record (truncated?)", idp);
      read_lists(rec, &lists, idp);
    }
    read_ids_v2(k, r, idp, ntotal, ids_bytes);
  }
  fi_reader_close(r);
  if (k->n != ntotal)
    fi_die("%s: holds %lld ids, its header says %lld (truncated?)", idp, (long long)k->n, (long long)ntotal);

  /* A file of the wrong size is not the index the id map describes: say
   * so before FAISS parses sizes declared inside it. */
  struct stat st;
  int regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (regular && (int64_t)st.st_size != want_bytes)
    fi_die("kNN index %s has %lld bytes, its id map %s says %lld: the pair is from different builds; "
           "rebuild with knn-select --build", path, (long long)st.st_size, idp, (long long)want_bytes);
  if (lists.nlist > 0 && regular) load_mapped(k, fd, want_bytes, &lists, path, idp);
  else load_stream(k, fd, path, idp, want_bytes, want_crc); /* a pipe has no mapping: all bytes checked */
  fi_faiss_lists_free(&lists);
  if (fd != 0) close(fd);
  if (faiss_Index_d(k->index) != k->d || faiss_Index_ntotal(k->index) != k->n)
    fi_die("kNN index %s has d=%d, %lld vectors; its id map says d=%d, %lld", path, faiss_Index_d(k->index),
           (long long)faiss_Index_ntotal(k->index), k->d, (long long)k->n);
  if (faiss_Index_metric_type(k->index) != METRIC_L2)
    fi_die("kNN index %s does not use the L2 metric", path);
  free(idp);
  return k;
}
