/* idx.c - IDX reader (see idx.h). */
#include "idx.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util.h"

struct fi_idx {
  gzFile gz;
  char *name;
  int ndim;
  int64_t dim[FI_IDX_MAX_NDIM];
  int64_t item;      /* bytes per item */
  int64_t index;     /* items read */
  uint8_t *tmp;      /* one item, for the f32 path */
  int done, failed;
  char err[512];
};

static void set_err(fi_idx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(fi_idx *x, const char *fmt, ...) {
  if (x->failed) return;
  x->failed = 1;
  int n = snprintf(x->err, sizeof x->err, "%s: ", x->name);
  if (n < 0 || (size_t)n >= sizeof x->err) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(x->err + n, sizeof x->err - (size_t)n, fmt, ap);
  va_end(ap);
}

/* Reads exactly n bytes; returns the count read (< n at end of input), or
 * -1 on a read/decompression error (message set). */
static long read_full(fi_idx *x, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    unsigned chunk = n - got > (1u << 30) ? (1u << 30) : (unsigned)(n - got);
    int r = gzread(x->gz, (char *)buf + got, chunk);
    int errnum = Z_OK;
    const char *msg = gzerror(x->gz, &errnum);
    if (r < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) {
      /* zlib reports a cut-off gzip stream as Z_BUF_ERROR */
      set_err(x, "item %lld of %lld: %s", (long long)x->index, (long long)x->dim[0],
              errnum == Z_BUF_ERROR ? "truncated file (compressed data ends early)"
              : errnum == Z_ERRNO   ? strerror(errno)
                                    : msg);
      return -1;
    }
    if (r == 0) break;
    got += (size_t)r;
  }
  return (long)got;
}

fi_idx *fi_idx_open(const char *path, int want_ndim, char *err, size_t errlen) {
  const char *name;
  int fd = fi_open_input(path, &name); /* "-", a closed stdin, a directory: as every input */
  gzFile gz = gzdopen(fd, "rb");
  if (!gz) {
    snprintf(err, errlen, "cannot open %s: %s", name, errno ? strerror(errno) : "out of memory");
    return NULL;
  }
  fi_idx *x = fi_calloc(1, sizeof *x);
  x->gz = gz;
  x->name = fi_strdup(name);
  gzbuffer(gz, 256 * 1024);
  unsigned char h[4 + 4 * FI_IDX_MAX_NDIM];
  long r = read_full(x, h, 4);
  if (r >= 0 && r < 4) set_err(x, "truncated header (%ld bytes; not an IDX file?)", r);
  if (x->failed) goto fail;
  if (h[0] || h[1] || h[3] < 1 || h[3] > FI_IDX_MAX_NDIM) {
    set_err(x, "bad magic %02x %02x %02x %02x: not an IDX file (expected 00 00 TYPE NDIM, "
            "NDIM 1..%d)", h[0], h[1], h[2], h[3], FI_IDX_MAX_NDIM);
    goto fail;
  }
  if (h[2] != 0x08) {
    set_err(x, "element type 0x%02x not supported (only unsigned byte, 0x08)", h[2]);
    goto fail;
  }
  x->ndim = h[3];
  if (want_ndim && x->ndim != want_ndim) {
    set_err(x, "has %d dimension%s, expected %d", x->ndim, x->ndim == 1 ? "" : "s", want_ndim);
    goto fail;
  }
  r = read_full(x, h + 4, 4 * (size_t)x->ndim);
  if (r >= 0 && r < 4 * x->ndim) set_err(x, "truncated header (dimensions)");
  if (x->failed) goto fail;
  x->item = 1;
  for (int i = 0; i < x->ndim; i++) {
    const unsigned char *p = h + 4 + 4 * i;
    x->dim[i] = (int64_t)p[0] << 24 | (int64_t)p[1] << 16 | (int64_t)p[2] << 8 | p[3];
    if (i == 0) {
      if (x->dim[0] > FI_IDX_MAX_ITEMS) {
        set_err(x, "declares %lld items, more than the limit %lld", (long long)x->dim[0],
                (long long)FI_IDX_MAX_ITEMS);
        goto fail;
      }
      continue;
    }
    /* each factor < 2^32 and the running product <= 2^26: no overflow */
    if (x->dim[i] == 0 || x->dim[i] > FI_IDX_MAX_ITEM_BYTES ||
        (x->item *= x->dim[i]) > FI_IDX_MAX_ITEM_BYTES) {
      set_err(x, "dimension %d is %lld: item size out of range (1..%lld bytes)", i,
              (long long)x->dim[i], (long long)FI_IDX_MAX_ITEM_BYTES);
      goto fail;
    }
  }
  x->tmp = fi_malloc((size_t)x->item);
  return x;
fail:
  snprintf(err, errlen, "%s", x->err);
  fi_idx_close(x);
  return NULL;
}

void fi_idx_close(fi_idx *x) {
  if (!x) return;
  gzclose(x->gz);
  free(x->name);
  free(x->tmp);
  free(x);
}

int fi_idx_ndim(const fi_idx *x) { return x->ndim; }
int64_t fi_idx_count(const fi_idx *x) { return x->dim[0]; }
int64_t fi_idx_item_size(const fi_idx *x) { return x->item; }
const char *fi_idx_error(const fi_idx *x) { return x->failed ? x->err : ""; }

int fi_idx_next(fi_idx *x, uint8_t *out) {
  if (x->failed) return -1;
  if (x->done) return 0;
  if (x->index == x->dim[0]) {
    /* One more read: finds trailing data, and makes zlib verify the gzip
     * trailer (CRC and length) of the last member. */
    unsigned char extra;
    long r = read_full(x, &extra, 1);
    if (r < 0) return -1;
    if (r > 0) {
      set_err(x, "data after the %lld declared items (wrong header or concatenated files?)",
              (long long)x->dim[0]);
      return -1;
    }
    x->done = 1;
    return 0;
  }
  long r = read_full(x, out, (size_t)x->item);
  if (r < 0) return -1;
  if (r < x->item) {
    set_err(x, "item %lld of %lld: truncated file (%ld of %lld bytes)", (long long)x->index,
            (long long)x->dim[0], r, (long long)x->item);
    return -1;
  }
  x->index++;
  return 1;
}

int fi_idx_next_f32(fi_idx *x, float *out) {
  int r = fi_idx_next(x, x->tmp);
  if (r != 1) return r;
  for (int64_t i = 0; i < x->item; i++) out[i] = (float)x->tmp[i] / 255.0f; /* = numpy uint8/255 in f32 */
  return 1;
}
