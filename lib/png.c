/* png.c - the PNG writer (png.h): signature, IHDR, IDAT chunks as deflate
 * fills them, IEND; chunk CRCs by zlib's crc32. */
#include "png.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "util.h"

#define CHUNK (64 * 1024)

struct fi_png {
  int fd;
  const char *name;
  uint32_t w, h, rows;
  int channels;
  z_stream z;
  uint8_t *chunk;   /* 8 header bytes + CHUNK of data + 4 CRC bytes */
};

static void put_all(fi_png *p, const uint8_t *b, size_t n) {
  while (n > 0) {
    ssize_t k = write(p->fd, b, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      fi_die("writing %s: %s", p->name, strerror(errno));
    }
    b += k;
    n -= (size_t)k;
  }
}

static void be32(uint8_t *b, uint32_t v) {
  b[0] = (uint8_t)(v >> 24), b[1] = (uint8_t)(v >> 16), b[2] = (uint8_t)(v >> 8), b[3] = (uint8_t)v;
}

/* A chunk whose type and n data bytes are in buf[4..8+n), with room for
 * the length before and the CRC after. */
static void put_chunk(fi_png *p, uint8_t *buf, const char *type, uint32_t n) {
  be32(buf, n);
  memcpy(buf + 4, type, 4);
  be32(buf + 8 + n, (uint32_t)crc32(crc32(0, Z_NULL, 0), buf + 4, n + 4));
  put_all(p, buf, (size_t)n + 12);
}

/* Run deflate over what z holds; emit every full IDAT (all of them when
 * finishing). */
static void pump(fi_png *p, int flush) {
  for (;;) {
    int rc = deflate(&p->z, flush);
    if (rc == Z_STREAM_ERROR) fi_die("writing %s: zlib deflate failed", p->name);
    if (p->z.avail_out == 0 || (flush == Z_FINISH && p->z.avail_out < CHUNK)) {
      put_chunk(p, p->chunk, "IDAT", CHUNK - p->z.avail_out);
      p->z.next_out = p->chunk + 8;
      p->z.avail_out = CHUNK;
    }
    if (flush == Z_FINISH ? rc == Z_STREAM_END : p->z.avail_in == 0 && p->z.avail_out > 0) return;
  }
}

fi_png *fi_png_begin(int fd, const char *name, uint32_t w, uint32_t h, int channels) {
  if (w == 0 || h == 0 || w > 0x7fffffffu || h > 0x7fffffffu)
    fi_die("%s: a PNG of %u x %u pixels cannot be written", name, w, h);
  if (channels != 1 && channels != 3) fi_die("%s: PNG with %d channels", name, channels);
  fi_png *p = fi_calloc(1, sizeof *p);
  p->fd = fd;
  p->name = name;
  p->w = w, p->h = h, p->channels = channels;
  p->chunk = fi_malloc(CHUNK + 12);
  if (deflateInit(&p->z, 6) != Z_OK) fi_die("writing %s: zlib deflateInit failed", name);
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  put_all(p, sig, sizeof sig);
  uint8_t ihdr[8 + 13 + 4];
  be32(ihdr + 8, w);
  be32(ihdr + 12, h);
  ihdr[16] = 8;                       /* bits per sample */
  ihdr[17] = channels == 3 ? 2 : 0;   /* colour type: truecolour or grey */
  ihdr[18] = ihdr[19] = ihdr[20] = 0; /* deflate, adaptive filtering, no interlace */
  put_chunk(p, ihdr, "IHDR", 13);
  p->z.next_out = p->chunk + 8;
  p->z.avail_out = CHUNK;
  return p;
}

/* Deflate n bytes, in pieces a uInt can count. */
static void feed(fi_png *p, const uint8_t *b, size_t n) {
  do {
    size_t k = n < (1u << 30) ? n : (1u << 30);
    p->z.next_in = (Bytef *)b; /* zlib reads next_in only */
    p->z.avail_in = (uInt)k;
    pump(p, Z_NO_FLUSH);
    b += k;
    n -= k;
  } while (n > 0);
}

void fi_png_rows(fi_png *p, const uint8_t *pixels, uint32_t nrows) {
  static const uint8_t filter_none = 0;
  size_t rb = (size_t)p->w * (size_t)p->channels;
  if (nrows > p->h - p->rows) fi_die("%s: more than the %u rows of the PNG", p->name, p->h);
  for (uint32_t r = 0; r < nrows; r++, p->rows++) {
    feed(p, &filter_none, 1);
    feed(p, pixels + r * rb, rb);
  }
}

void fi_png_end(fi_png *p) {
  if (p->rows != p->h) fi_die("%s: %u of the PNG's %u rows written", p->name, p->rows, p->h);
  p->z.avail_in = 0;
  pump(p, Z_FINISH);
  deflateEnd(&p->z);
  uint8_t iend[12];
  put_chunk(p, iend, "IEND", 0);
  free(p->chunk);
  free(p);
}
