/* stream_index.c - build, open and read through a stream index
 * (stream_index.h, formats/stream-index.md). The index is itself a tensor
 * stream: a header record, then chunks of CHUNK rows as columns (offset,
 * nbytes, crc32, label tensors and an ids array), so dump and any msgpack
 * reader can look inside. In memory: the columns as arrays (about 24 bytes
 * a record with its id), the ids in one blob, and an open-addressing table
 * over them built when an id is first looked up (ihvp never does). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "model_internal.h" /* fi_fnv1a64 */
#include "stream_index.h"
#include "util.h"

#define SIDX_VERSION 1
#define CHUNK 65536                      /* rows per index record (~1 MB of ids) */
#define READ_BYTES ((size_t)8 << 20)     /* fi_sidx_read's buffer, unless one record is larger */

struct fi_sidx {
  char *path, *stream;
  int fd;                 /* the stream, for pread */
  uint64_t stream_bytes;
  int64_t n, cap;
  uint64_t *off;          /* [n + 1]: record i is bytes off[i] .. off[i + 1] */
  uint32_t *crc;
  int32_t *label;
  char *blob;             /* ids, NUL-terminated, back to back */
  size_t bloblen, blobcap;
  uint64_t *idoff;        /* id i at blob + idoff[i] */
  int64_t *ht;            /* record number or -1; htcap a power of two; built on first use */
  uint64_t htcap;
};

char *fi_sidx_default_path(const char *stream) {
  size_t n = strlen(stream) + 6;
  char *p = fi_malloc(n);
  snprintf(p, n, "%s.sidx", stream);
  return p;
}

/* Nanoseconds since the epoch, negative before 1970; beyond int64's range
 * (after 2262) saturated, so such files are told apart by size and CRC. */
static int64_t mtime_ns(const struct stat *st) {
  int64_t ns;
  if (__builtin_mul_overflow((int64_t)st->st_mtim.tv_sec, (int64_t)1000000000, &ns) ||
      __builtin_add_overflow(ns, (int64_t)st->st_mtim.tv_nsec, &ns))
    return st->st_mtim.tv_sec < 0 ? INT64_MIN : INT64_MAX;
  return ns;
}

static void grow(fi_sidx *ix, int64_t need) {
  if (need <= ix->cap) return;
  int64_t cap = ix->cap ? ix->cap : 1024;
  while (cap < need) cap *= 2;
  ix->off = fi_realloc(ix->off, fi_mul_size((size_t)cap + 1, sizeof *ix->off, "stream index"));
  ix->crc = fi_realloc(ix->crc, fi_mul_size((size_t)cap, sizeof *ix->crc, "stream index"));
  ix->label = fi_realloc(ix->label, fi_mul_size((size_t)cap, sizeof *ix->label, "stream index"));
  ix->idoff = fi_realloc(ix->idoff, fi_mul_size((size_t)cap, sizeof *ix->idoff, "stream index"));
  ix->cap = cap;
}

static void push_id(fi_sidx *ix, const char *id, size_t len) {
  if (ix->bloblen + len + 1 > ix->blobcap) {
    size_t cap = ix->blobcap ? ix->blobcap : 1 << 16;
    while (cap < ix->bloblen + len + 1) cap *= 2;
    ix->blob = fi_realloc(ix->blob, cap);
    ix->blobcap = cap;
  }
  ix->idoff[ix->n] = ix->bloblen;
  memcpy(ix->blob + ix->bloblen, id, len);
  ix->blob[ix->bloblen + len] = 0;
  ix->bloblen += len + 1;
}

void fi_sidx_close(fi_sidx *ix) {
  if (!ix) return;
  if (ix->fd >= 0) close(ix->fd);
  free(ix->path);
  free(ix->stream);
  free(ix->off);
  free(ix->crc);
  free(ix->label);
  free(ix->blob);
  free(ix->idoff);
  free(ix->ht);
  free(ix);
}

/* ---- building ---- */

/* The integer label of a record, or -1 (absent, not an integer, or out of
 * int32: the index only carries what a class index can be). */
static int32_t rec_label(const fi_record *rec) {
  fi_val v = fi_rec_get(rec, "label");
  int64_t y;
  if (fi_val_kind(v) != FI_V_INT || fi_val_int(v, &y) || y < 0 || y > INT32_MAX) return -1;
  return (int32_t)y;
}

static void write_chunk(fi_writer *w, const fi_sidx *ix, int64_t first, int64_t k) {
  char id[40];
  snprintf(id, sizeof id, "rows-%" PRId64, first);
  int64_t *off = fi_malloc(fi_mul_size((size_t)k, 3 * sizeof(int64_t), "stream index"));
  int64_t *len = off + k, *crc = len + k;
  const char **ids = fi_malloc(fi_mul_size((size_t)k, sizeof *ids, "stream index"));
  for (int64_t i = 0; i < k; i++) {
    off[i] = (int64_t)ix->off[first + i];
    len[i] = (int64_t)(ix->off[first + i + 1] - ix->off[first + i]);
    crc[i] = ix->crc[first + i];
    ids[i] = ix->blob + ix->idoff[first + i];
  }
  fi_wbegin(w, id, 6);
  fi_wint(w, "first", first);
  fi_wtensor(w, "offset", FI_I64, 1, &k, off);
  fi_wtensor(w, "nbytes", FI_I64, 1, &k, len);
  fi_wtensor(w, "crc32", FI_I64, 1, &k, crc);
  fi_wtensor(w, "label", FI_I32, 1, &k, ix->label + first);
  fi_wstrs(w, "ids", ids, k);
  fi_wend(w);
  free(off);
  free(ids);
}

static void ht_build(fi_sidx *ix);

int64_t fi_sidx_build(const char *stream, const char *out) {
  struct stat st;
  if (stat(stream, &st) != 0) fi_die("cannot open %s: %s", stream, strerror(errno));
  if (!S_ISREG(st.st_mode))
    fi_die("%s is not a regular file: only a file can be read at random (index a copy of the stream)", stream);
  struct stat ost;
  if (stat(out, &ost) == 0 && ost.st_dev == st.st_dev && ost.st_ino == st.st_ino)
    fi_die("%s: the index would overwrite the stream itself; name another file", out);
  fi_sidx *ix = fi_calloc(1, sizeof *ix);
  ix->fd = -1;
  ix->path = fi_strdup(out);
  ix->stream = fi_strdup(stream);
  fi_reader *r = fi_reader_open(stream);
  const fi_record *rec;
  uint64_t end = 0;
  while ((rec = fi_read(r))) {
    grow(ix, ix->n + 1);
    const char *id = fi_rec_id(rec);
    ix->off[ix->n] = fi_rec_offset(rec);
    ix->off[ix->n + 1] = fi_rec_offset(rec) + fi_rec_nbytes(rec);
    ix->crc[ix->n] = (uint32_t)crc32_z(0L, fi_rec_bytes(rec), fi_rec_nbytes(rec));
    ix->label[ix->n] = rec_label(rec);
    push_id(ix, id, strlen(id));
    end = ix->off[ix->n + 1];
    ix->n++;
    if (ix->n % 65536 == 0) fi_progress("indexed %lld records", (long long)ix->n);
  }
  fi_reader_close(r);
  /* The stream as read must be the file as stat saw it: a file growing
   * while indexed would get an index of a version that never existed. */
  struct stat st2;
  if (stat(stream, &st2) != 0 || st2.st_size != st.st_size || mtime_ns(&st2) != mtime_ns(&st) ||
      end != (uint64_t)st.st_size)
    fi_die("%s changed while it was being indexed", stream);
  ht_build(ix); /* refuses a repeated id, naming both records */
  fi_writer *w = fi_writer_open(out);
  const char *base = strrchr(stream, '/');
  fi_wbegin(w, "stream-index", 6);
  fi_wint(w, "version", SIDX_VERSION);
  fi_wstr(w, "stream", base ? base + 1 : stream);
  fi_wint(w, "stream_bytes", (int64_t)st.st_size);
  fi_wint(w, "stream_mtime_ns", mtime_ns(&st));
  fi_wint(w, "records", ix->n);
  fi_wint(w, "chunk", CHUNK);
  fi_wend(w);
  for (int64_t first = 0; first < ix->n; first += CHUNK)
    write_chunk(w, ix, first, ix->n - first < CHUNK ? ix->n - first : CHUNK);
  fi_writer_close(w);
  int64_t n = ix->n;
  fi_sidx_close(ix);
  return n;
}

/* ---- the id table ---- */

static uint64_t id_hash(const char *s) { return fi_fnv1a64(s, strlen(s), FI_FNV_OFFSET); }

static void ht_build(fi_sidx *ix) {
  uint64_t cap = 1024;
  while (cap < (uint64_t)ix->n * 2) cap *= 2;
  ix->ht = fi_malloc(fi_mul_size(cap, sizeof *ix->ht, "stream index ids"));
  ix->htcap = cap;
  for (uint64_t i = 0; i < cap; i++) ix->ht[i] = -1;
  for (int64_t j = 0; j < ix->n; j++) {
    const char *id = ix->blob + ix->idoff[j];
    uint64_t h = id_hash(id) & (cap - 1);
    for (; ix->ht[h] >= 0; h = (h + 1) & (cap - 1))
      if (!strcmp(ix->blob + ix->idoff[ix->ht[h]], id))
        fi_die("%s: record '%s' (#%lld) repeats the id of record #%lld: an index needs unique ids",
               ix->stream, id, (long long)j, (long long)ix->ht[h]);
    ix->ht[h] = j;
  }
}

int64_t fi_sidx_find(fi_sidx *ix, const char *id) {
  if (!ix->ht) ht_build(ix); /* refuses a repeated id */
  uint64_t mask = ix->htcap - 1;
  for (uint64_t h = id_hash(id) & mask;; h = (h + 1) & mask) {
    int64_t j = ix->ht[h];
    if (j < 0 || !strcmp(ix->blob + ix->idoff[j], id)) return j;
  }
}

/* ---- opening ---- */

static int64_t hdr_int(const fi_record *rec, const char *key, const char *path) {
  int64_t v;
  fi_rec_int(rec, key, &v, 1);
  if (v < 0) fi_rec_die(rec, "%s: negative %s", path, key);
  return v;
}

/* One chunk's column `key`: a 1-D tensor of k elements of dtype dt. */
static const void *column(const fi_record *rec, const char *key, fi_dtype dt, int64_t k, const char *path) {
  fi_tensor t;
  fi_rec_tensor(rec, key, &t, 1);
  if (t.dtype != dt || t.ndim != 1 || t.n != k)
    fi_rec_die(rec, "%s: column '%s' is not %s[%lld]", path, key, fi_dtype_name(dt), (long long)k);
  return t.data;
}

static void load_chunk(fi_sidx *ix, const fi_record *rec) {
  const char *p = ix->path;
  int64_t first = hdr_int(rec, "first", p);
  if (first != ix->n) fi_rec_die(rec, "%s: chunk starts at row %lld, expected %lld", p, (long long)first, (long long)ix->n);
  const char **ids;
  int64_t k = fi_rec_strs(rec, "ids", &ids, 1);
  const unsigned char *off = column(rec, "offset", FI_I64, k, p), *len = column(rec, "nbytes", FI_I64, k, p),
                      *crc = column(rec, "crc32", FI_I64, k, p), *lab = column(rec, "label", FI_I32, k, p);
  grow(ix, ix->n + k);
  uint64_t end = ix->off[ix->n];
  for (int64_t i = 0; i < k; i++) {
    int64_t o, l, c;
    int32_t y;
    memcpy(&o, off + 8 * i, 8); /* the tensor bodies may be unaligned */
    memcpy(&l, len + 8 * i, 8);
    memcpy(&c, crc + 8 * i, 8);
    memcpy(&y, lab + 4 * i, 4);
    /* A stream is its records back to back: each starts where the last
     * ended, and the last ends at the file's end (checked at open). */
    if ((uint64_t)o != end || l <= 0 || (uint64_t)l > fi_max_record_bytes() || c < 0 || c > UINT32_MAX ||
        y < -1 || !fi_id_valid(ids[i]))
      fi_rec_die(rec, "%s: row %lld is not a record of a stream (offset %lld, %lld bytes, crc32 %lld, label %d, id '%s')",
                 p, (long long)(ix->n), (long long)o, (long long)l, (long long)c, (int)y, ids[i]);
    ix->off[ix->n] = (uint64_t)o;
    ix->off[ix->n + 1] = (uint64_t)o + (uint64_t)l;
    ix->crc[ix->n] = (uint32_t)c;
    ix->label[ix->n] = y;
    push_id(ix, ids[i], strlen(ids[i]));
    end = (uint64_t)o + (uint64_t)l;
    ix->n++;
  }
}

fi_sidx_status fi_sidx_open(const char *stream, const char *ixpath, fi_sidx **out, char *why, size_t whylen) {
  *out = NULL;
  if (whylen) why[0] = 0;
  char *path = ixpath ? fi_strdup(ixpath) : fi_sidx_default_path(stream);
  struct stat ist;
  if (stat(path, &ist) != 0 && errno == ENOENT) {
    free(path);
    return FI_SIDX_ABSENT;
  }
  fi_sidx *ix = fi_calloc(1, sizeof *ix);
  ix->fd = -1;
  ix->path = path;
  ix->stream = fi_strdup(stream);
  fi_reader *r = fi_reader_open(path);
  const fi_record *rec = fi_read(r);
  if (!rec || strcmp(fi_rec_id(rec), "stream-index"))
    fi_die("%s is not a stream index (its first record is not 'stream-index'; make one with stream-index)", path);
  int64_t version = hdr_int(rec, "version", path);
  if (version != SIDX_VERSION)
    fi_rec_die(rec, "%s: stream index version %lld, this build reads version %d: rebuild it with stream-index",
               path, (long long)version, SIDX_VERSION);
  int64_t bytes = hdr_int(rec, "stream_bytes", path), mt;
  fi_rec_int(rec, "stream_mtime_ns", &mt, 1); /* negative before 1970 */
  int64_t records = hdr_int(rec, "records", path);
  struct stat st;
  int fd = open(stream, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &st) != 0) fi_die("cannot open %s: %s", stream, strerror(errno));
  ix->fd = fd;
  if (!S_ISREG(st.st_mode)) fi_die("%s is not a regular file: it cannot be read through an index", stream);
  if ((int64_t)st.st_size != bytes || mtime_ns(&st) != mt) {
    snprintf(why, whylen, "%s describes %s as %lld bytes modified at %.3f s, the file now has %lld bytes, modified at %.3f s",
             path, stream, (long long)bytes, mt / 1e9, (long long)st.st_size, mtime_ns(&st) / 1e9);
    fi_reader_close(r);
    fi_sidx_close(ix);
    return FI_SIDX_STALE;
  }
  ix->stream_bytes = (uint64_t)bytes;
  grow(ix, 1);
  ix->off[0] = 0;
  while ((rec = fi_read(r))) load_chunk(ix, rec);
  fi_reader_close(r);
  uint64_t end = ix->off[ix->n];
  if (ix->n != records || end != (uint64_t)bytes)
    fi_die("%s: holds %lld rows ending at byte %llu, its header says %lld records in %lld bytes (truncated?)", path,
           (long long)ix->n, (unsigned long long)end, (long long)records, (long long)bytes);
  *out = ix;
  return FI_SIDX_OK;
}

const char *fi_sidx_path(const fi_sidx *ix) { return ix->path; }
const char *fi_sidx_stream(const fi_sidx *ix) { return ix->stream; }
int64_t fi_sidx_count(const fi_sidx *ix) { return ix->n; }
uint64_t fi_sidx_stream_bytes(const fi_sidx *ix) { return ix->stream_bytes; }
const char *fi_sidx_id(const fi_sidx *ix, int64_t i) { return ix->blob + ix->idoff[i]; }
int32_t fi_sidx_label(const fi_sidx *ix, int64_t i) { return ix->label[i]; }

/* ---- reading ---- */

#define LEN(ix, i) ((size_t)((ix)->off[(i) + 1] - (ix)->off[i]))

static void pread_all(const fi_sidx *ix, unsigned char *dst, size_t want, uint64_t off) {
  while (want > 0) {
    ssize_t got = pread(ix->fd, dst, want, (off_t)off);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0)
      fi_die("reading %s at byte %llu: %s", ix->stream, (unsigned long long)off,
             got < 0 ? strerror(errno) : "the file ends early: it changed since it was indexed");
    dst += got;
    off += (uint64_t)got;
    want -= (size_t)got;
  }
}

static void count_row(const fi_record *rec, int64_t i, void *ctx) {
  (void)rec;
  (void)i;
  ++*(int64_t *)ctx;
}

int64_t fi_sidx_check(const fi_sidx *ix) {
  int64_t rows[4096], seen = 0;
  for (int64_t j = 0; j < ix->n;) {
    int64_t k = ix->n - j < 4096 ? ix->n - j : 4096;
    for (int64_t q = 0; q < k; q++) rows[q] = j + q;
    fi_sidx_read(ix, rows, k, count_row, &seen);
    j += k;
    fi_progress("checked %lld of %lld records", (long long)j, (long long)ix->n);
  }
  return seen;
}

void fi_sidx_read(const fi_sidx *ix, const int64_t *rows, int64_t n, fi_sidx_each each, void *ctx) {
  if (n <= 0) return;
  for (int64_t i = 0; i < n; i++)
    if (rows[i] < 0 || rows[i] >= ix->n)
      fi_die("internal: row %lld of %s's index (has %lld)", (long long)rows[i], ix->stream, (long long)ix->n);
  /* the buffer: what the rows need, up to READ_BYTES (LiSSA reads one
   * small record at a time) */
  size_t cap = 0;
  for (int64_t i = 0; i < n && cap < READ_BYTES; i++) cap += LEN(ix, rows[i]);
  if (cap > READ_BYTES) cap = READ_BYTES;
  unsigned char *buf = fi_malloc(cap);
  size_t namelen = strlen(ix->stream) + 64;
  char *name = fi_malloc(namelen);
  snprintf(name, namelen, "%s (read through its index)", ix->stream);
  fi_reader *r = fi_reader_open_bytes(name);
  for (int64_t i = 0; i < n;) {
    /* a run of consecutive rows that fits the buffer (at least one row) */
    int64_t j = rows[i], k = 1;
    size_t bytes = LEN(ix, j);
    while (i + k < n && rows[i + k] == j + k && bytes + LEN(ix, j + k) <= cap) {
      bytes += LEN(ix, j + k);
      k++;
    }
    if (bytes > cap) {
      free(buf);
      buf = fi_malloc(cap = bytes);
    }
    pread_all(ix, buf, bytes, ix->off[j]);
    fi_reader_set_bytes(r, buf, bytes, ix->off[j], j);
    for (int64_t q = 0; q < k; q++) {
      int64_t row = j + q;
      const unsigned char *p = buf + (ix->off[row] - ix->off[j]);
      /* before the record is parsed: bytes other than the ones indexed are
       * a changed file, not a corrupt record */
      if ((uint32_t)crc32_z(0L, p, LEN(ix, row)) != ix->crc[row])
        fi_die("%s: record #%lld (byte %llu) is not the one %s indexed (its CRC-32 differs): the file changed "
               "since; rebuild the index with stream-index", ix->stream, (long long)row,
               (unsigned long long)ix->off[row], ix->path);
      const fi_record *rec = fi_read(r);
      if (!rec || fi_rec_nbytes(rec) != LEN(ix, row) || strcmp(fi_rec_id(rec), fi_sidx_id(ix, row)) ||
          rec_label(rec) != ix->label[row]) /* the labels the examples took from the index */
        fi_die("%s: record #%lld (byte %llu) does not match %s (a corrupt index?); rebuild the index with "
               "stream-index", ix->stream, (long long)row, (unsigned long long)ix->off[row], ix->path);
      each(rec, i + q, ctx);
    }
    i += k;
  }
  fi_reader_close(r);
  free(name);
  free(buf);
}
