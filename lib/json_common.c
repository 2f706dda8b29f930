/* json_common.c - what both directions of the JSON-lines form share
 * (json_internal.h): byte buffers, the text of non-finite floats, the
 * base64 alphabet, and the parser's error record. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"
#include "util.h"

void fi_jbuf_free(fi_jbuf *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

void fi_jb_reserve(fi_jbuf *b, size_t more) {
  if (b->cap - b->n >= more) return;
  size_t need = b->n + more;
  if (need < b->n) fi_die("JSON buffer size overflow");
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  b->p = fi_realloc(b->p, cap);
  b->cap = cap;
}
void fi_jb_put(fi_jbuf *b, const void *s, size_t n) {
  fi_jb_reserve(b, n);
  memcpy(b->p + b->n, s, n);
  b->n += n;
}
void fi_jb_c(fi_jbuf *b, char c) {
  fi_jb_reserve(b, 1);
  b->p[b->n++] = c;
}
void fi_jb_s(fi_jbuf *b, const char *s) { fi_jb_put(b, s, strlen(s)); }

const char fi_json_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The two quiet NaNs seen in practice (positive from Python's
 * float('nan'), negative from x86's 0*inf) get names; any other NaN keeps
 * its exact bit pattern. */
#define F32_QNAN 0x7fc00000u
#define F64_QNAN 0x7ff8000000000000ull

void fi_json_nonfinite_text(char *buf, size_t cap, uint64_t u, int bits) {
  uint64_t sign = bits == 32 ? 0x80000000ull : 0x8000000000000000ull;
  uint64_t qnan = bits == 32 ? F32_QNAN : F64_QNAN;
  uint64_t inf = bits == 32 ? 0x7f800000ull : 0x7ff0000000000000ull;
  if ((u & ~sign) == inf)
    snprintf(buf, cap, "%s", u & sign ? "-Infinity" : "Infinity");
  else if (u == qnan)
    snprintf(buf, cap, "NaN");
  else if (u == (qnan | sign))
    snprintf(buf, cap, "-NaN");
  else
    snprintf(buf, cap, "NaN:0x%0*" PRIx64, bits / 4, u);
}

/* Parse the names above; bits = 32 or 64. Returns 0 on success. */
int fi_json_nonfinite_parse(const char *s, size_t n, int bits, uint64_t *out) {
  uint64_t sign = bits == 32 ? 0x80000000ull : 0x8000000000000000ull;
  uint64_t inf = bits == 32 ? 0x7f800000ull : 0x7ff0000000000000ull;
  uint64_t qnan = bits == 32 ? F32_QNAN : F64_QNAN;
  if (n == 8 && !memcmp(s, "Infinity", 8)) *out = inf;
  else if (n == 9 && !memcmp(s, "-Infinity", 9)) *out = inf | sign;
  else if (n == 3 && !memcmp(s, "NaN", 3)) *out = qnan;
  else if (n == 4 && !memcmp(s, "-NaN", 4)) *out = qnan | sign;
  else if (n == (size_t)(6 + bits / 4) && !memcmp(s, "NaN:0x", 6)) {
    uint64_t u = 0;
    for (size_t i = 6; i < n; i++) {
      int c = s[i], d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else return -1;
      u = u << 4 | (uint64_t)d;
    }
    /* must really be a NaN: exponent all ones, mantissa non-zero */
    if ((u & ~sign) <= inf) return -1;
    *out = u;
  } else
    return -1;
  return 0;
}

/* Record the first error; parsing unwinds by checking p->failed. */
int fi_json_fail(fi_json_parser *p, size_t at, const char *fmt, ...) {
  if (p->failed) return -1;
  p->failed = 1;
  p->errcol = at;
  va_list ap;
  va_start(ap, fmt);
  fi_err_vset(&p->err, FI_ERR_DATA, NULL, fmt, ap);
  va_end(ap);
  return -1;
}
