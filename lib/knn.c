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
#include <fcntl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

#include "stream.h"
#include "strset.h"
#include "util.h"

/* Vectors go to FAISS in blocks of this many rows, so an index that needs
 * no training never holds a second full copy of the data. */
#define ADD_BLOCK 8192
/* Record ids per record of the id map (keeps records well under the
 * reader's size limit). */
#define IDS_PER_CHUNK 16384

#define IDS_FORMAT "fastif-knn-ids"
#define IDS_VERSION 1
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
  if (strncmp(m, "Error in ", 9) == 0) {
    const char *at = strstr(m, " at ");
    const char *colon = at ? strchr(at + 4, ':') : NULL;
    const char *rest = colon ? strstr(colon + 1, ": ") : NULL;
    if (rest && rest[2]) return rest + 2;
  }
  return m;
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
 * FAISS reads and writes through a stdio stream (fopencookie) that checks
 * every write and computes the CRC-32 and size of the bytes on the way, so
 * the id map can name exactly the index it belongs to without a second pass
 * over the file. */
typedef struct {
  int fd;
  uLong crc;
  uint64_t bytes;
} crc_io;

static ssize_t crc_write(void *c, const char *buf, size_t n) {
  crc_io *io = c;
  if (fi_write_all(io->fd, buf, n)) return -1;
  io->crc = crc32_z(io->crc, (const Bytef *)buf, n);
  io->bytes += n;
  return (ssize_t)n;
}

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

static FILE *crc_open(crc_io *io, int fd, int writing) {
  io->fd = fd;
  io->crc = crc32_z(0L, Z_NULL, 0);
  io->bytes = 0;
  cookie_io_functions_t fns = {0};
  if (writing) fns.write = crc_write;
  else fns.read = crc_read;
  FILE *f = fopencookie(io, writing ? "w" : "r", fns);
  if (!f) fi_die("fopencookie: %s", strerror(errno));
  setvbuf(f, NULL, _IOFBF, 1 << 20);
  return f;
}

static char *ids_path(const char *path) {
  size_t n = strlen(path) + 5;
  char *p = fi_malloc(n);
  snprintf(p, n, "%s.ids", path);
  return p;
}

void fi_knn_save(const fi_knn *k, const char *path) {
  if (!k->index || k->nbuf) fi_die("kNN index: save before finish");
  char *idp = ids_path(path);

  fi_atomic *a = fi_atomic_begin(path);
  crc_io io;
  FILE *f = crc_open(&io, fi_atomic_fd(a), 1);
  if (faiss_write_index(k->index, f) != 0) fi_die("writing %s: %s", path, fi_knn_faiss_error());
  /* fclose flushes through crc_write; the fd stays open for the commit. */
  if (fflush(f) != 0 || ferror(f)) fi_die("writing %s: %s", path, strerror(errno));
  if (fclose(f) != 0) fi_die("writing %s: %s", path, strerror(errno));

  /* The id map first, then the index: PATH appearing means the pair is
   * complete; a crash between the renames leaves a pair the loader rejects
   * by size and CRC. */
  fi_writer *w = fi_writer_open(idp);
  fi_wbegin(w, IDS_HEADER_ID, 9);
  fi_wstr(w, "format", IDS_FORMAT);
  fi_wint(w, "version", IDS_VERSION);
  fi_wstr(w, "spec", k->spec);
  fi_wstr(w, "metric", "l2");
  fi_wint(w, "d", k->d);
  fi_wint(w, "ntotal", k->n);
  fi_wint(w, "chunk", IDS_PER_CHUNK);
  fi_wint(w, "index_bytes", (int64_t)io.bytes);
  fi_wint(w, "index_crc32", (int64_t)io.crc);
  fi_wend(w);
  const char **ptrs = fi_malloc(fi_mul_size(IDS_PER_CHUNK, sizeof *ptrs, "id map"));
  char cid[64];
  for (int64_t first = 0, c = 0; first < k->n; first += IDS_PER_CHUNK, c++) {
    int64_t m = k->n - first < IDS_PER_CHUNK ? k->n - first : IDS_PER_CHUNK;
    for (int64_t i = 0; i < m; i++) ptrs[i] = k->arena + k->off[first + i];
    snprintf(cid, sizeof cid, "ids.%lld", (long long)c);
    fi_wbegin(w, cid, 2);
    fi_wint(w, "first", first);
    fi_wstrs(w, "ids", ptrs, m);
    fi_wend(w);
  }
  free(ptrs);
  fi_writer_close(w);
  fi_atomic_commit(a);
  free(idp);
}

static int64_t header_int(const fi_record *rec, const char *key) {
  int64_t v;
  fi_rec_int(rec, key, &v, 1);
  return v;
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
  if (version != IDS_VERSION)
    fi_rec_die(rec, "%s: version %lld, this build reads version %d", idp, (long long)version, IDS_VERSION);
  fi_knn *k = fi_knn_new(fi_rec_str(rec, "spec", NULL, 1));
  k->path = fi_strdup(path);
  int64_t d = header_int(rec, "d"), ntotal = header_int(rec, "ntotal");
  int64_t want_bytes = header_int(rec, "index_bytes"), want_crc = header_int(rec, "index_crc32");
  if (d <= 0 || d > (1 << 30) || ntotal <= 0) fi_rec_die(rec, "%s: bad d=%lld or ntotal=%lld", idp, (long long)d, (long long)ntotal);
  k->d = (int)d;

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
  fi_reader_close(r);
  if (k->n != ntotal)
    fi_die("%s: holds %lld ids, its header says %lld (truncated?)", idp, (long long)k->n, (long long)ntotal);

  /* A file of the wrong size is not the index the id map describes: say
   * so before FAISS parses sizes declared inside it. */
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (int64_t)st.st_size != want_bytes)
    fi_die("kNN index %s has %lld bytes, its id map %s says %lld: the pair is from different builds; "
           "rebuild with knn-select --build", path, (long long)st.st_size, idp, (long long)want_bytes);
  crc_io io;
  FILE *f = crc_open(&io, fd, 0);
  if (faiss_read_index(f, 0, &k->index) != 0)
    fi_die("reading kNN index %s: %s", path, fi_knn_faiss_error());
  /* Drain what FAISS did not read so size and CRC cover the whole file. */
  char tail[4096];
  while (fread(tail, 1, sizeof tail, f) > 0) {}
  if (ferror(f)) fi_die("reading %s: %s", path, strerror(errno));
  fclose(f);
  if (fd != 0) close(fd);
  if ((int64_t)io.bytes != want_bytes || (int64_t)io.crc != want_crc)
    fi_die("kNN index %s (%llu bytes, CRC-32 %08lx) is not the one its id map %s describes (%lld bytes, "
           "CRC-32 %08llx): the pair is from different builds; rebuild with knn-select --build",
           path, (unsigned long long)io.bytes, (unsigned long)io.crc, idp, (long long)want_bytes,
           (unsigned long long)want_crc);
  if (faiss_Index_d(k->index) != k->d || faiss_Index_ntotal(k->index) != k->n)
    fi_die("kNN index %s has d=%d, %lld vectors; its id map says d=%d, %lld", path, faiss_Index_d(k->index),
           (long long)faiss_Index_ntotal(k->index), k->d, (long long)k->n);
  if (faiss_Index_metric_type(k->index) != METRIC_L2)
    fi_die("kNN index %s does not use the L2 metric", path);
  free(idp);
  return k;
}
