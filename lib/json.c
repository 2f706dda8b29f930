/* json.c - records <-> JSON lines (see json.h and formats/stream.md).
 * Exactness first: floats print with the shortest decimal that reads back to
 * the same bits, ints print exactly over the whole int64/uint64 range, and
 * the reverse re-encodes with msgpack-c's smallest encodings, which are also
 * Python msgpack's, so round trips are byte-identical. */
#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ------------------------------------------------------------------ */
/* buffers */

void fi_jbuf_free(fi_jbuf *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

static void jb_reserve(fi_jbuf *b, size_t more) {
  if (b->cap - b->n >= more) return;
  size_t need = b->n + more;
  if (need < b->n) fi_die("JSON buffer size overflow");
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  b->p = fi_realloc(b->p, cap);
  b->cap = cap;
}
static void jb_put(fi_jbuf *b, const void *s, size_t n) {
  jb_reserve(b, n);
  memcpy(b->p + b->n, s, n);
  b->n += n;
}
static void jb_c(fi_jbuf *b, char c) {
  jb_reserve(b, 1);
  b->p[b->n++] = c;
}
static void jb_s(fi_jbuf *b, const char *s) { jb_put(b, s, strlen(s)); }

/* ------------------------------------------------------------------ */
/* number formatting shared by both directions */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The first of %.6g .. %.9g whose text reads back (strtof) to exactly x:
 * the shortest round-tripping text for normal floats (6 digits are below
 * f32's precision and %g strips trailing zeros) and 9 always round-trips.
 * Round-tripping is monotone in the digit count (the nearest p+1-digit
 * decimal is never farther than the nearest p-digit one), so a binary
 * search finds the first one with ~2 tries instead of ~4. */
static int f32_ok(char *buf, size_t cap, float x, int prec) {
  snprintf(buf, cap, "%.*g", prec, (double)x);
  float y = strtof(buf, NULL);
  return memcmp(&x, &y, sizeof x) == 0;
}
static void fmt_f32(char *buf, size_t cap, float x) {
  if (!f32_ok(buf, cap, x, 8)) {
    snprintf(buf, cap, "%.9g", (double)x);
  } else if (!f32_ok(buf, cap, x, 7)) {
    snprintf(buf, cap, "%.8g", (double)x);
  } else if (!f32_ok(buf, cap, x, 6)) {
    snprintf(buf, cap, "%.7g", (double)x);
  }
}
/* Same for f64 with %.15g .. %.17g (15 digits never over-shoot). */
static int f64_ok(char *buf, size_t cap, double x, int prec) {
  snprintf(buf, cap, "%.*g", prec, x);
  double y = strtod(buf, NULL);
  return memcmp(&x, &y, sizeof x) == 0;
}
static void fmt_f64(char *buf, size_t cap, double x) {
  if (!f64_ok(buf, cap, x, 16)) snprintf(buf, cap, "%.17g", x);
  else if (!f64_ok(buf, cap, x, 15)) snprintf(buf, cap, "%.16g", x);
}

/* Non-finite values as strings. The two quiet NaNs seen in practice (positive
 * from Python's float('nan'), negative from x86's 0*inf) get names; any other
 * NaN keeps its exact bit pattern. */
#define F32_QNAN 0x7fc00000u
#define F64_QNAN 0x7ff8000000000000ull
static void nonfinite_f32(char *buf, size_t cap, float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  if (isinf(x))
    snprintf(buf, cap, "%s", x < 0 ? "-Infinity" : "Infinity");
  else if (u == F32_QNAN)
    snprintf(buf, cap, "NaN");
  else if (u == (F32_QNAN | 0x80000000u))
    snprintf(buf, cap, "-NaN");
  else
    snprintf(buf, cap, "NaN:0x%08" PRIx32, u);
}
static void nonfinite_f64(char *buf, size_t cap, double x) {
  uint64_t u;
  memcpy(&u, &x, 8);
  if (isinf(x))
    snprintf(buf, cap, "%s", x < 0 ? "-Infinity" : "Infinity");
  else if (u == F64_QNAN)
    snprintf(buf, cap, "NaN");
  else if (u == (F64_QNAN | 0x8000000000000000ull))
    snprintf(buf, cap, "-NaN");
  else
    snprintf(buf, cap, "NaN:0x%016" PRIx64, u);
}

/* Parse the names above; bits = 32 or 64. Returns 0 on success. */
static int parse_nonfinite(const char *s, size_t n, int bits, uint64_t *out) {
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

/* ------------------------------------------------------------------ */
/* record -> JSON */


typedef struct {
  const fi_record *rec;
  const char *field; /* top-level field being written, for messages */
  fi_jbuf *out;
} dctx;

static void put_jstring(dctx *c, const char *s, uint32_t n, const char *what) {
  long bad = fi_utf8_invalid_at((const unsigned char *)s, n);
  if (bad >= 0)
    fi_rec_die(c->rec, "field '%s': %s is not valid UTF-8 (byte %ld); JSON cannot carry it, store it as bin",
               c->field, what, bad);
  fi_jbuf *b = c->out;
  jb_reserve(b, (size_t)n + 2);
  b->p[b->n++] = '"';
  for (uint32_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    const char *esc = NULL;
    switch (ch) {
    case '"': esc = "\\\""; break;
    case '\\': esc = "\\\\"; break;
    case '\n': esc = "\\n"; break;
    case '\r': esc = "\\r"; break;
    case '\t': esc = "\\t"; break;
    case '\b': esc = "\\b"; break;
    case '\f': esc = "\\f"; break;
    default: break;
    }
    if (esc) {
      jb_s(b, esc);
    } else if (ch < 0x20) {
      char u[8];
      snprintf(u, sizeof u, "\\u%04x", ch);
      jb_s(b, u);
    } else {
      jb_c(b, (char)ch);
    }
  }
  jb_c(b, '"');
}

static void put_base64(fi_jbuf *b, const unsigned char *p, size_t n) {
  jb_reserve(b, (n + 2) / 3 * 4 + 2);
  char *o = b->p + b->n;
  *o++ = '"';
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    *o++ = B64[v >> 18];
    *o++ = B64[v >> 12 & 63];
    *o++ = B64[v >> 6 & 63];
    *o++ = B64[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)p[i] << 16;
    *o++ = B64[v >> 18];
    *o++ = B64[v >> 12 & 63];
    *o++ = '=';
    *o++ = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
    *o++ = B64[v >> 18];
    *o++ = B64[v >> 12 & 63];
    *o++ = B64[v >> 6 & 63];
    *o++ = '=';
  }
  *o++ = '"';
  b->n = (size_t)(o - b->p);
}

/* Little-endian element i of a tensor, whatever the host's alignment. */
static uint64_t le_load(const unsigned char *p, size_t size) {
  uint64_t u = 0;
  for (size_t k = 0; k < size; k++) u |= (uint64_t)p[k] << (8 * k);
  return u;
}

static void put_element(fi_jbuf *b, const fi_tensor *t, int64_t i) {
  char buf[64];
  size_t sz = fi_dtype_size(t->dtype);
  uint64_t u = le_load((const unsigned char *)t->data + (size_t)i * sz, sz);
  switch (t->dtype) {
  case FI_F32: {
    uint32_t u32 = (uint32_t)u;
    float x;
    memcpy(&x, &u32, 4);
    if (isfinite(x)) {
      fmt_f32(buf, sizeof buf, x);
      jb_s(b, buf);
    } else {
      nonfinite_f32(buf, sizeof buf, x);
      jb_c(b, '"'), jb_s(b, buf), jb_c(b, '"');
    }
    return;
  }
  case FI_F64: {
    double x;
    memcpy(&x, &u, 8);
    if (isfinite(x)) {
      fmt_f64(buf, sizeof buf, x);
      jb_s(b, buf);
    } else {
      nonfinite_f64(buf, sizeof buf, x);
      jb_c(b, '"'), jb_s(b, buf), jb_c(b, '"');
    }
    return;
  }
  case FI_I32: snprintf(buf, sizeof buf, "%" PRId32, (int32_t)(uint32_t)u); break;
  case FI_I64: snprintf(buf, sizeof buf, "%" PRId64, (int64_t)u); break;
  case FI_U8: snprintf(buf, sizeof buf, "%u", (unsigned)u); break;
  default: fi_die("internal: bad dtype %d", (int)t->dtype);
  }
  jb_s(b, buf);
}

/* Nested lists, row-major; recursion depth is ndim <= FI_MAX_NDIM. */
static void put_dims(fi_jbuf *b, const fi_tensor *t, int k, int64_t *next) {
  if (k == t->ndim) {
    put_element(b, t, (*next)++);
    return;
  }
  jb_c(b, '[');
  for (int64_t i = 0; i < t->shape[k]; i++) {
    if (i) jb_c(b, ',');
    put_dims(b, t, k + 1, next);
  }
  jb_c(b, ']');
}

static int key_is(fi_val k, const char *s) {
  uint32_t n;
  if (fi_val_kind(k) != FI_V_STR) return 0;
  const char *p = fi_val_raw(k, &n);
  return n == strlen(s) && !memcmp(p, s, n);
}

static void put_tensor(dctx *c, fi_val m) {
  fi_tensor t;
  const char *why = "not a tensor";
  if (fi_val_tensor(m, &t, &why) != 0)
    fi_rec_die(c->rec, "field '%s': %s", c->field, why);
  /* With a zero-size dim the text is only brackets; bound it by the dims
   * before the first zero so a hostile shape cannot blow up the output. */
  int64_t lead = 1;
  for (int k = 0; k < t.ndim && t.shape[k] != 0; k++) {
    if (t.shape[k] > (int64_t)fi_max_record_bytes() / lead)
      fi_rec_die(c->rec, "field '%s': tensor shape too large to print", c->field);
    lead *= t.shape[k];
  }
  fi_jbuf *b = c->out;
  jb_c(b, '{');
  for (uint32_t i = 0; i < 3; i++) {
    fi_val k = fi_map_key(m, i);
    if (i) jb_c(b, ',');
    if (key_is(k, "dtype")) {
      jb_s(b, "\"dtype\":\"");
      jb_s(b, fi_dtype_name(t.dtype));
      jb_c(b, '"');
    } else if (key_is(k, "shape")) {
      jb_s(b, "\"shape\":[");
      for (int d = 0; d < t.ndim; d++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%s%" PRId64, d ? "," : "", t.shape[d]);
        jb_s(b, buf);
      }
      jb_c(b, ']');
    } else {
      jb_s(b, "\"data\":");
      int64_t next = 0;
      put_dims(b, &t, 0, &next);
    }
  }
  jb_c(b, '}');
}

static void put_value(dctx *c, fi_val v, int depth) {
  const msgpack_object *o = (const msgpack_object *)v.o;
  fi_jbuf *b = c->out;
  char buf[64];
  if ((o->type == MSGPACK_OBJECT_ARRAY || o->type == MSGPACK_OBJECT_MAP) && depth > FI_JSON_MAX_MSGPACK_DEPTH)
    fi_rec_die(c->rec, "field '%s': nested deeper than %d levels", c->field, FI_JSON_MAX_MSGPACK_DEPTH);
  switch (o->type) {
  case MSGPACK_OBJECT_NIL: jb_s(b, "null"); return;
  case MSGPACK_OBJECT_BOOLEAN: jb_s(b, o->via.boolean ? "true" : "false"); return;
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    snprintf(buf, sizeof buf, "%" PRIu64, o->via.u64);
    jb_s(b, buf);
    return;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    snprintf(buf, sizeof buf, "%" PRId64, o->via.i64);
    jb_s(b, buf);
    return;
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64: {
    double x = o->via.f64;
    if (!isfinite(x)) {
      nonfinite_f64(buf, sizeof buf, x);
      jb_s(b, "{\"$float\":\""), jb_s(b, buf), jb_s(b, "\"}");
      return;
    }
    fmt_f64(buf, sizeof buf, x);
    jb_s(b, buf);
    /* keep it a float when read back: integers-looking text would become int */
    if (!strpbrk(buf, ".e")) jb_s(b, ".0");
    return;
  }
  case MSGPACK_OBJECT_STR: put_jstring(c, o->via.str.ptr, o->via.str.size, "a string"); return;
  case MSGPACK_OBJECT_BIN:
    jb_s(b, "{\"$bin\":");
    put_base64(b, (const unsigned char *)o->via.bin.ptr, o->via.bin.size);
    jb_c(b, '}');
    return;
  case MSGPACK_OBJECT_ARRAY:
    jb_c(b, '[');
    for (uint32_t i = 0; i < o->via.array.size; i++) {
      if (i) jb_c(b, ',');
      put_value(c, fi_arr_at(v, i), depth + 1);
    }
    jb_c(b, ']');
    return;
  case MSGPACK_OBJECT_MAP: {
    uint32_t n = o->via.map.size;
    if (fi_val_is_tensor(v)) { /* the reader has validated every map with "dtype" */
      put_tensor(c, v);
      return;
    }
    if (n == 1 && (key_is(fi_map_key(v, 0), "$bin") || key_is(fi_map_key(v, 0), "$float")))
      fi_rec_die(c->rec, "field '%s': a map whose only key is \"$bin\" or \"$float\" is reserved for the JSON form", c->field);
    jb_c(b, '{');
    for (uint32_t i = 0; i < n; i++) {
      fi_val k = fi_map_key(v, i);
      if (fi_val_kind(k) != FI_V_STR) fi_rec_die(c->rec, "field '%s': map key is not a string", c->field);
      if (i) jb_c(b, ',');
      uint32_t kn;
      const char *kp = fi_val_raw(k, &kn);
      put_jstring(c, kp, kn, "a map key");
      jb_c(b, ':');
      put_value(c, fi_map_value(v, i), depth + 1);
    }
    jb_c(b, '}');
    return;
  }
  default:
    fi_rec_die(c->rec, "field '%s': msgpack type %d (ext) has no JSON form", c->field, (int)o->type);
  }
}

void fi_json_record(const fi_record *rec, fi_jbuf *out) {
  fi_val root = fi_rec_root(rec);
  if (fi_val_kind(root) != FI_V_MAP) fi_rec_die(rec, "record is not a map");
  dctx c = {rec, "", out};
  uint32_t n = fi_val_len(root);
  /* top level written here so errors can name the field */
  jb_c(out, '{');
  for (uint32_t i = 0; i < n; i++) {
    fi_val k = fi_map_key(root, i);
    if (fi_val_kind(k) != FI_V_STR) fi_rec_die(rec, "top-level key #%u is not a string", i);
    uint32_t kn;
    const char *kp = fi_val_raw(k, &kn);
    char name[128];
    uint32_t m = kn < 100 ? kn : 100;
    for (uint32_t j = 0; j < m; j++) /* keep the error message one printable line */
      name[j] = (unsigned char)kp[j] < 0x20 || kp[j] == 0x7f ? '?' : kp[j];
    name[m] = 0;
    c.field = name;
    if (i) jb_c(out, ',');
    put_jstring(&c, kp, kn, "the key");
    jb_c(out, ':');
    put_value(&c, fi_map_value(root, i), 2);
  }
  jb_s(out, "}\n");
}

/* ------------------------------------------------------------------ */
/* JSON -> msgpack: a strict parser builds a flat tree (preorder, reused
 * across lines), then an encoder walks it. Two passes because a tensor's
 * shape may come after its data. */

enum { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };

typedef struct {
  uint8_t kind;
  uint8_t isint;  /* J_NUM without fraction or exponent */
  uint32_t len;   /* ARR: elements; OBJ: pairs; STR, NUM: bytes */
  uint32_t next;  /* next sibling; 0 = none (node 0 is the root) */
  uint32_t col;   /* 0-based byte offset in the line, for messages */
  size_t off;     /* STR: offset in p->str; NUM: offset in the text */
} jnode;

struct fi_json_parser {
  const char *s;
  size_t n, i;
  jnode *nodes;
  size_t nn, ncap;
  fi_jbuf str;      /* decoded strings */
  fi_jbuf num;      /* one number's text, NUL-terminated, for strto* */
  msgpack_sbuffer sb;
  msgpack_packer pk;
  char why[256];
  size_t errcol;
  int failed;
};

fi_json_parser *fi_json_parser_new(void) {
  fi_json_parser *p = fi_calloc(1, sizeof *p);
  msgpack_sbuffer_init(&p->sb);
  msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
  return p;
}

void fi_json_parser_free(fi_json_parser *p) {
  if (!p) return;
  free(p->nodes);
  fi_jbuf_free(&p->str);
  fi_jbuf_free(&p->num);
  msgpack_sbuffer_destroy(&p->sb);
  free(p);
}

/* Record the first error; parsing unwinds by checking p->failed. */
static int fail(fi_json_parser *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(fi_json_parser *p, size_t at, const char *fmt, ...) {
  if (p->failed) return -1;
  p->failed = 1;
  p->errcol = at;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->why, sizeof p->why, fmt, ap);
  va_end(ap);
  return -1;
}

static void skip_ws(fi_json_parser *p) {
  while (p->i < p->n) {
    char c = p->s[p->i];
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') break;
    p->i++;
  }
}

static long new_node(fi_json_parser *p, int kind) {
  if (p->nn >= UINT32_MAX) return fail(p, p->i, "too many values in one line");
  if (p->nn == p->ncap) {
    p->ncap = p->ncap ? p->ncap * 2 : 1024;
    p->nodes = fi_realloc(p->nodes, fi_mul_size(p->ncap, sizeof *p->nodes, "JSON values"));
  }
  jnode *d = &p->nodes[p->nn];
  memset(d, 0, sizeof *d);
  d->kind = (uint8_t)kind;
  d->col = (uint32_t)(p->i < UINT32_MAX ? p->i : UINT32_MAX);
  return (long)p->nn++;
}

static int hex4(const char *s, unsigned *out) {
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    int c = s[k], d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return -1;
    v = v << 4 | (unsigned)d;
  }
  *out = v;
  return 0;
}

static void put_utf8(fi_jbuf *b, unsigned cp) {
  char u[4];
  size_t k;
  if (cp < 0x80) u[0] = (char)cp, k = 1;
  else if (cp < 0x800) u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 63)), k = 2;
  else if (cp < 0x10000)
    u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | (cp >> 6 & 63)), u[2] = (char)(0x80 | (cp & 63)), k = 3;
  else
    u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | (cp >> 12 & 63)),
    u[2] = (char)(0x80 | (cp >> 6 & 63)), u[3] = (char)(0x80 | (cp & 63)), k = 4;
  jb_put(b, u, k);
}

/* p->i at the opening quote. Decodes into p->str. */
static long parse_string(fi_json_parser *p) {
  long id = new_node(p, J_STR);
  if (id < 0) return -1;
  size_t start = p->str.n;
  p->i++;
  for (;;) {
    if (p->i >= p->n) return fail(p, p->i, "unterminated string");
    unsigned char c = (unsigned char)p->s[p->i];
    if (c == '"') {
      p->i++;
      break;
    }
    if (c < 0x20) return fail(p, p->i, "control character 0x%02x in string (escape it)", c);
    if (c == '\\') {
      if (p->i + 1 >= p->n) return fail(p, p->i, "unterminated string");
      char e = p->s[p->i + 1];
      const char *map = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
      const char *hit = strchr(map, e);
      if (e && hit) {
        jb_c(&p->str, to[hit - map]);
        p->i += 2;
        continue;
      }
      if (e != 'u') return fail(p, p->i, "invalid escape '\\%c'", e);
      unsigned cp;
      if (p->i + 6 > p->n || hex4(p->s + p->i + 2, &cp)) return fail(p, p->i, "invalid \\u escape");
      size_t at = p->i;
      p->i += 6;
      if (cp >= 0xdc00 && cp <= 0xdfff) return fail(p, at, "lone low surrogate \\u%04x", cp);
      if (cp >= 0xd800 && cp <= 0xdbff) {
        unsigned lo;
        if (p->i + 6 > p->n || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u' || hex4(p->s + p->i + 2, &lo) ||
            lo < 0xdc00 || lo > 0xdfff)
          return fail(p, at, "high surrogate \\u%04x not followed by a low surrogate", cp);
        p->i += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      }
      put_utf8(&p->str, cp);
      continue;
    }
    /* a run of raw bytes up to the next quote, backslash or control char */
    size_t j = p->i;
    while (j < p->n) {
      unsigned char d = (unsigned char)p->s[j];
      if (d == '"' || d == '\\' || d < 0x20) break;
      j++;
    }
    long bad = fi_utf8_invalid_at((const unsigned char *)p->s + p->i, j - p->i);
    if (bad >= 0) return fail(p, p->i + (size_t)bad, "invalid UTF-8 in string");
    jb_put(&p->str, p->s + p->i, j - p->i);
    p->i = j;
  }
  size_t len = p->str.n - start;
  if (len > UINT32_MAX) return fail(p, p->nodes[id].col, "string too long");
  p->nodes[id].off = start;
  p->nodes[id].len = (uint32_t)len;
  return id;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static long parse_number(fi_json_parser *p) {
  long id = new_node(p, J_NUM);
  if (id < 0) return -1;
  size_t i = p->i, n = p->n;
  const char *s = p->s;
  int isint = 1;
  if (i < n && s[i] == '-') i++;
  if (i >= n || !is_digit(s[i])) return fail(p, i, "invalid number");
  if (s[i] == '0') {
    i++;
    if (i < n && is_digit(s[i])) return fail(p, i, "leading zero in number");
  } else {
    while (i < n && is_digit(s[i])) i++;
  }
  if (i < n && s[i] == '.') {
    isint = 0;
    i++;
    if (i >= n || !is_digit(s[i])) return fail(p, i, "digit expected after '.'");
    while (i < n && is_digit(s[i])) i++;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    isint = 0;
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    if (i >= n || !is_digit(s[i])) return fail(p, i, "digit expected in exponent");
    while (i < n && is_digit(s[i])) i++;
  }
  if (i - p->i > UINT32_MAX) return fail(p, p->i, "number too long");
  p->nodes[id].off = p->i;
  p->nodes[id].len = (uint32_t)(i - p->i);
  p->nodes[id].isint = (uint8_t)isint;
  p->i = i;
  return id;
}

static long parse_value(fi_json_parser *p, int depth);

static long parse_container(fi_json_parser *p, int depth, int obj) {
  if (depth >= FI_JSON_MAX_DEPTH) return fail(p, p->i, "nested deeper than %d levels", FI_JSON_MAX_DEPTH);
  long id = new_node(p, obj ? J_OBJ : J_ARR);
  if (id < 0) return -1;
  char close = obj ? '}' : ']';
  p->i++;
  skip_ws(p);
  uint64_t count = 0;
  long prev = -1;
  if (p->i < p->n && p->s[p->i] == close) {
    p->i++;
    return id;
  }
  for (;;) {
    skip_ws(p);
    if (obj) {
      if (p->i >= p->n || p->s[p->i] != '"') return fail(p, p->i, "object key (a string) expected");
      long k = parse_string(p);
      if (k < 0) return -1;
      if (prev >= 0) p->nodes[prev].next = (uint32_t)k;
      skip_ws(p);
      if (p->i >= p->n || p->s[p->i] != ':') return fail(p, p->i, "':' expected after object key");
      p->i++;
      long v = parse_value(p, depth + 1);
      if (v < 0) return -1;
      p->nodes[k].next = (uint32_t)v;
      prev = v;
    } else {
      long v = parse_value(p, depth + 1);
      if (v < 0) return -1;
      if (prev >= 0) p->nodes[prev].next = (uint32_t)v;
      prev = v;
    }
    if (++count > UINT32_MAX) return fail(p, p->i, "too many elements");
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == ',') {
      p->i++;
      continue;
    }
    if (p->i < p->n && p->s[p->i] == close) {
      p->i++;
      break;
    }
    return fail(p, p->i, "',' or '%c' expected", close);
  }
  p->nodes[id].len = (uint32_t)count;
  return id;
}

static long parse_literal(fi_json_parser *p, const char *word, int kind) {
  size_t k = strlen(word);
  if (p->n - p->i < k || memcmp(p->s + p->i, word, k)) return fail(p, p->i, "invalid literal (expected %s)", word);
  long id = new_node(p, kind);
  p->i += k;
  return id;
}

static long parse_value(fi_json_parser *p, int depth) {
  skip_ws(p);
  if (p->i >= p->n) return fail(p, p->i, "value expected");
  char c = p->s[p->i];
  switch (c) {
  case '{': return parse_container(p, depth, 1);
  case '[': return parse_container(p, depth, 0);
  case '"': return parse_string(p);
  case 't': return parse_literal(p, "true", J_TRUE);
  case 'f': return parse_literal(p, "false", J_FALSE);
  case 'n': return parse_literal(p, "null", J_NULL);
  default:
    if (c == '-' || is_digit(c)) return parse_number(p);
    if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f) return fail(p, p->i, "unexpected '%c'", c);
    return fail(p, p->i, "unexpected byte 0x%02x", (unsigned char)c);
  }
}

/* ---- encoding ---- */

static const char *sval(fi_json_parser *p, const jnode *d) { return p->str.p + d->off; }
static int str_is(fi_json_parser *p, const jnode *d, const char *s) {
  return d->kind == J_STR && d->len == strlen(s) && !memcmp(sval(p, d), s, d->len);
}

/* NUL-terminated copy of a number's text for strto*. */
static const char *numtext(fi_json_parser *p, const jnode *d) {
  p->num.n = 0;
  jb_put(&p->num, p->s + d->off, d->len);
  jb_c(&p->num, 0);
  return p->num.p;
}

/* Integer node -> int64 or uint64. Returns 0 ok (neg says which), -1 error. */
static int num_int(fi_json_parser *p, const jnode *d, int64_t *i, uint64_t *u, int *neg) {
  if (!d->isint) return fail(p, d->col, "integer expected");
  const char *t = numtext(p, d);
  errno = 0;
  if (t[0] == '-') {
    long long v = strtoll(t, NULL, 10);
    if (errno == ERANGE) return fail(p, d->col, "integer below the int64 range");
    *i = v;
    *neg = v < 0;
    *u = v < 0 ? 0 : (uint64_t)v;
  } else {
    unsigned long long v = strtoull(t, NULL, 10);
    if (errno == ERANGE) return fail(p, d->col, "integer above the uint64 range");
    *u = v;
    *neg = 0;
    *i = v > INT64_MAX ? INT64_MAX : (int64_t)v;
  }
  return 0;
}

static int pack_plain_int(fi_json_parser *p, const jnode *d) {
  int64_t i;
  uint64_t u;
  int neg;
  if (num_int(p, d, &i, &u, &neg)) return -1;
  /* msgpack-c's smallest encodings (positive values as uint*, like Python) */
  if (neg) msgpack_pack_int64(&p->pk, i);
  else msgpack_pack_uint64(&p->pk, u);
  return 0;
}

static int pack_float_text(fi_json_parser *p, const jnode *d) {
  double x = strtod(numtext(p, d), NULL);
  if (!isfinite(x)) return fail(p, d->col, "number out of the float64 range");
  msgpack_pack_double(&p->pk, x);
  return 0;
}

static int b64val(int c) {
  const char *h = c ? strchr(B64, c) : NULL;
  return h ? (int)(h - B64) : -1;
}

/* Strict base64 (padding required, unused bits zero) so that one text means
 * one byte string, keeping the round trip exact. */
static int pack_base64(fi_json_parser *p, const jnode *d) {
  const char *s = sval(p, d);
  size_t n = d->len;
  if (n % 4) return fail(p, d->col, "$bin: base64 length is not a multiple of 4");
  size_t pad = n && s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
  size_t out = n / 4 * 3 - pad;
  msgpack_pack_bin(&p->pk, out);
  unsigned char chunk[3 * 256];
  size_t cn = 0;
  for (size_t i = 0; i < n; i += 4) {
    int v[4];
    int last = i + 4 == n;
    for (int k = 0; k < 4; k++) {
      if (last && s[i + k] == '=' && k >= 4 - (int)pad) {
        v[k] = 0;
        continue;
      }
      v[k] = b64val((unsigned char)s[i + k]);
      if (v[k] < 0) return fail(p, d->col, "$bin: invalid base64 character");
    }
    uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
    int nb = last ? 3 - (int)pad : 3;
    if (last && pad && (w & (pad == 2 ? 0xffffu : 0xffu)))
      return fail(p, d->col, "$bin: non-canonical base64 (unused bits set)");
    chunk[cn++] = (unsigned char)(w >> 16);
    if (nb > 1) chunk[cn++] = (unsigned char)(w >> 8);
    if (nb > 2) chunk[cn++] = (unsigned char)w;
    if (cn == sizeof chunk || last) {
      msgpack_pack_bin_body(&p->pk, chunk, cn);
      cn = 0;
    }
  }
  return 0;
}

/* ---- tensors ---- */

typedef struct {
  fi_dtype dtype;
  int ndim;
  int64_t shape[FI_MAX_NDIM];
  unsigned char chunk[4096];
  size_t cn;
} tenc;

/* Checks that data nests exactly as shape says (leaves at depth ndim). */
static int check_dims(fi_json_parser *p, const tenc *t, uint32_t id, int k) {
  const jnode *d = &p->nodes[id];
  if (k == t->ndim) {
    if (d->kind == J_NUM) return 0;
    if (d->kind == J_STR && (t->dtype == FI_F32 || t->dtype == FI_F64)) return 0;
    return fail(p, d->col, "tensor element expected (a number) at nesting depth %d", k);
  }
  if (d->kind != J_ARR) return fail(p, d->col, "list expected at nesting depth %d of tensor data (shape has %d dims)", k, t->ndim);
  if ((int64_t)d->len != t->shape[k])
    return fail(p, d->col, "tensor data has %u entries at depth %d, shape says %" PRId64, d->len, k, t->shape[k]);
  uint32_t c = id + 1;
  for (uint32_t i = 0; i < d->len; i++) {
    if (check_dims(p, t, c, k + 1)) return -1;
    c = p->nodes[c].next;
  }
  return 0;
}

static void tflush(fi_json_parser *p, tenc *t) {
  msgpack_pack_bin_body(&p->pk, t->chunk, t->cn);
  t->cn = 0;
}

static int put_leaf(fi_json_parser *p, tenc *t, const jnode *d) {
  size_t sz = fi_dtype_size(t->dtype);
  uint64_t u = 0;
  if (d->kind == J_STR) {
    if (parse_nonfinite(sval(p, d), d->len, t->dtype == FI_F32 ? 32 : 64, &u))
      return fail(p, d->col, "tensor element: string is not NaN, -NaN, Infinity, -Infinity or NaN:0x<bits>");
  } else if (t->dtype == FI_F32) {
    float x = strtof(numtext(p, d), NULL); /* direct, no double rounding */
    if (!isfinite(x)) return fail(p, d->col, "tensor element out of the f32 range");
    uint32_t b;
    memcpy(&b, &x, 4);
    u = b;
  } else if (t->dtype == FI_F64) {
    double x = strtod(numtext(p, d), NULL);
    if (!isfinite(x)) return fail(p, d->col, "tensor element out of the f64 range");
    memcpy(&u, &x, 8);
  } else {
    int64_t i;
    uint64_t uu;
    int neg;
    if (!d->isint) return fail(p, d->col, "%s tensor element must be an integer", fi_dtype_name(t->dtype));
    if (num_int(p, d, &i, &uu, &neg)) return -1;
    int ok = t->dtype == FI_I64 ? (neg || uu <= INT64_MAX)
             : t->dtype == FI_I32 ? (i >= INT32_MIN && i <= INT32_MAX)
                                  : (!neg && uu <= 255);
    if (!ok) return fail(p, d->col, "tensor element out of the %s range", fi_dtype_name(t->dtype));
    u = (uint64_t)i;
  }
  if (t->cn + sz > sizeof t->chunk) tflush(p, t);
  for (size_t k = 0; k < sz; k++) t->chunk[t->cn++] = (unsigned char)(u >> (8 * k));
  return 0;
}

/* Leaves in preorder = row-major order. */
static int put_leaves(fi_json_parser *p, tenc *t, uint32_t id, int k) {
  const jnode *d = &p->nodes[id];
  if (k == t->ndim) return put_leaf(p, t, d);
  uint32_t c = id + 1;
  for (uint32_t i = 0; i < d->len; i++) {
    if (put_leaves(p, t, c, k + 1)) return -1;
    c = p->nodes[c].next;
  }
  return 0;
}

static int pack_tensor(fi_json_parser *p, uint32_t id) {
  uint32_t keys[3], vals[3];
  uint32_t c = id + 1;
  for (int i = 0; i < 3; i++) {
    keys[i] = c;
    vals[i] = p->nodes[c].next;
    c = p->nodes[vals[i]].next;
  }
  const jnode *dt = NULL, *sh = NULL;
  uint32_t data = 0, shape_id = 0;
  for (int i = 0; i < 3; i++) {
    const jnode *k = &p->nodes[keys[i]];
    if (str_is(p, k, "dtype")) dt = &p->nodes[vals[i]];
    else if (str_is(p, k, "shape")) sh = &p->nodes[vals[i]], shape_id = vals[i];
    else data = vals[i];
  }
  tenc *t = fi_malloc(sizeof *t);
  int rc = -1;
  t->cn = 0;
  t->dtype = FI_NDTYPES;
  if (dt->kind == J_STR)
    for (int k = 0; k < FI_NDTYPES; k++)
      if (str_is(p, dt, fi_dtype_name((fi_dtype)k))) t->dtype = (fi_dtype)k;
  if (t->dtype == FI_NDTYPES) {
    fail(p, dt->col, "tensor dtype must be one of f32, f64, i32, i64, u8");
    goto out;
  }
  if (sh->kind != J_ARR) {
    fail(p, sh->col, "tensor shape must be a list of integers");
    goto out;
  }
  if (sh->len > FI_MAX_NDIM) {
    fail(p, sh->col, "tensor has %u dims, at most %d allowed", sh->len, FI_MAX_NDIM);
    goto out;
  }
  t->ndim = (int)sh->len;
  /* Bound the size by the record limit; zeros count as ones so a 0-size
   * tensor cannot declare absurd other dims either. */
  uint64_t bound = fi_dtype_size(t->dtype), nelem = 1, limit = fi_max_record_bytes();
  c = shape_id + 1;
  for (int k = 0; k < t->ndim; k++) {
    const jnode *d = &p->nodes[c];
    int64_t i;
    uint64_t u;
    int neg;
    if (d->kind != J_NUM) {
      fail(p, d->col, "tensor shape must be a list of integers");
      goto out;
    }
    if (num_int(p, d, &i, &u, &neg)) goto out;
    if (neg || u > limit || (u > 1 && bound > limit / u)) {
      fail(p, d->col, "tensor dimension %d (%s) is negative or exceeds the record size limit", k, numtext(p, d));
      goto out;
    }
    t->shape[k] = (int64_t)u;
    bound *= u > 1 ? u : 1;
    nelem *= u;
    c = p->nodes[c].next;
  }
  if (check_dims(p, t, data, 0)) goto out;
  size_t nbytes = (size_t)nelem * fi_dtype_size(t->dtype);
  if (nbytes > UINT32_MAX) {
    fail(p, p->nodes[data].col, "tensor data larger than 4 GiB");
    goto out;
  }
  msgpack_pack_map(&p->pk, 3);
  for (int i = 0; i < 3; i++) {
    const jnode *k = &p->nodes[keys[i]];
    msgpack_pack_str_with_body(&p->pk, sval(p, k), k->len);
    if (str_is(p, k, "dtype")) {
      msgpack_pack_str_with_body(&p->pk, sval(p, dt), dt->len);
    } else if (str_is(p, k, "shape")) {
      msgpack_pack_array(&p->pk, (size_t)t->ndim);
      for (int d = 0; d < t->ndim; d++) msgpack_pack_uint64(&p->pk, (uint64_t)t->shape[d]);
    } else {
      msgpack_pack_bin(&p->pk, nbytes);
      if (put_leaves(p, t, data, 0)) goto out;
      tflush(p, t);
    }
  }
  rc = 0;
out:
  free(t);
  return rc;
}

/* Which form an object takes: 1 tensor, 2 $bin, 3 $float, 0 plain map,
 * -1 error. As in the stream reader, any map with a "dtype" key is a tensor
 * and must have exactly dtype, shape and data. */
static int object_form(fi_json_parser *p, uint32_t id) {
  const jnode *o = &p->nodes[id];
  int seen = 0;
  uint32_t c = id + 1;
  for (uint32_t i = 0; i < o->len; i++) {
    const jnode *k = &p->nodes[c];
    if (str_is(p, k, "dtype")) seen |= 1;
    else if (str_is(p, k, "shape")) seen |= 2;
    else if (str_is(p, k, "data")) seen |= 4;
    c = p->nodes[k->next].next;
  }
  if (seen & 1) {
    if (o->len == 3 && seen == 7) return 1;
    return fail(p, o->col, "an object with a \"dtype\" key is a tensor and needs exactly dtype, shape and data");
  }
  if (o->len == 1) {
    const jnode *k = &p->nodes[id + 1];
    if (str_is(p, k, "$bin")) return 2;
    if (str_is(p, k, "$float")) return 3;
  }
  return 0;
}

static int pack_node(fi_json_parser *p, uint32_t id, int depth) {
  const jnode *d = &p->nodes[id];
  switch (d->kind) {
  case J_NULL: msgpack_pack_nil(&p->pk); return 0;
  case J_TRUE: msgpack_pack_true(&p->pk); return 0;
  case J_FALSE: msgpack_pack_false(&p->pk); return 0;
  case J_STR: msgpack_pack_str_with_body(&p->pk, sval(p, d), d->len); return 0;
  case J_NUM: return d->isint ? pack_plain_int(p, d) : pack_float_text(p, d);
  default: break;
  }
  if (depth > FI_JSON_MAX_MSGPACK_DEPTH)
    return fail(p, d->col, "nested deeper than %d levels", FI_JSON_MAX_MSGPACK_DEPTH);
  if (d->kind == J_ARR) {
    msgpack_pack_array(&p->pk, d->len);
    uint32_t c = id + 1;
    for (uint32_t i = 0; i < d->len; i++) {
      if (pack_node(p, c, depth + 1)) return -1;
      c = p->nodes[c].next;
    }
    return 0;
  }
  int form = object_form(p, id);
  if (form < 0) return -1;
  if (form == 1) {
    if (depth + 1 > FI_JSON_MAX_MSGPACK_DEPTH) /* its shape list nests one more */
      return fail(p, d->col, "nested deeper than %d levels", FI_JSON_MAX_MSGPACK_DEPTH);
    return pack_tensor(p, id);
  }
  if (form == 2 || form == 3) {
    const jnode *v = &p->nodes[p->nodes[id + 1].next];
    if (v->kind != J_STR) return fail(p, v->col, "%s must be a string", form == 2 ? "$bin" : "$float");
    if (form == 2) return pack_base64(p, v);
    uint64_t u;
    if (parse_nonfinite(sval(p, v), v->len, 64, &u))
      return fail(p, v->col, "$float must be NaN, -NaN, Infinity, -Infinity or NaN:0x<16 hex digits>");
    double x;
    memcpy(&x, &u, 8);
    msgpack_pack_double(&p->pk, x);
    return 0;
  }
  /* plain map; duplicate keys would make the record ambiguous */
  uint32_t c = id + 1;
  for (uint32_t i = 0; i < d->len; i++) {
    const jnode *k = &p->nodes[c];
    for (uint32_t c2 = id + 1; c2 != c; c2 = p->nodes[p->nodes[c2].next].next) {
      const jnode *k2 = &p->nodes[c2];
      if (k2->len == k->len && !memcmp(sval(p, k2), sval(p, k), k->len))
        return fail(p, k->col, "duplicate key \"%.*s\"", (int)(k->len < 60 ? k->len : 60), sval(p, k));
    }
    c = p->nodes[p->nodes[c].next].next;
  }
  msgpack_pack_map(&p->pk, d->len);
  c = id + 1;
  for (uint32_t i = 0; i < d->len; i++) {
    const jnode *k = &p->nodes[c];
    msgpack_pack_str_with_body(&p->pk, sval(p, k), k->len);
    uint32_t v = k->next;
    if (pack_node(p, v, depth + 1)) return -1;
    c = p->nodes[v].next;
  }
  return 0;
}

/* The stream reader's rules for a record's top level (see stream.c). */
static int check_record(fi_json_parser *p, int require_id) {
  const jnode *r = &p->nodes[0];
  if (r->kind != J_OBJ) return fail(p, r->col, "a record must be a JSON object");
  int have_id = 0;
  uint32_t c = 1; /* key of pair i; its value is nodes[c].next */
  for (uint32_t i = 0; i < r->len; i++) {
    const jnode *k = &p->nodes[c];
    const jnode *v = &p->nodes[k->next];
    if (memchr(sval(p, k), 0, k->len)) return fail(p, k->col, "a record's keys may not contain NUL");
    if (str_is(p, k, "id")) {
      have_id = 1;
      if (v->kind != J_STR) return fail(p, v->col, "\"id\" must be a string");
      if (v->len == 0) return fail(p, v->col, "\"id\" is empty");
      if (v->len > 4096) return fail(p, v->col, "\"id\" is longer than 4096 bytes");
      for (uint32_t j = 0; j < v->len; j++) {
        unsigned char ch = (unsigned char)sval(p, v)[j];
        if (ch <= 0x20 || ch == 0x7f) return fail(p, v->col, "\"id\" contains whitespace or a control character");
      }
    }
    c = v->next;
  }
  if (require_id && !have_id) return fail(p, r->col, "record has no \"id\"");
  return 0;
}

const void *fi_json_parse(fi_json_parser *p, const char *text, size_t len, int require_id,
                          size_t *nbytes, size_t *col, const char **why) {
  p->s = text;
  p->n = len;
  p->i = 0;
  p->nn = 0;
  p->str.n = 0;
  p->failed = 0;
  msgpack_sbuffer_clear(&p->sb);
  long root = parse_value(p, 0);
  if (root >= 0) {
    skip_ws(p);
    if (p->i < p->n) fail(p, p->i, "unexpected text after the value");
  }
  if (!p->failed) check_record(p, require_id);
  if (!p->failed) pack_node(p, 0, 1);
  if (p->failed) {
    *col = p->errcol + 1;
    *why = p->why;
    return NULL;
  }
  *nbytes = p->sb.size;
  return p->sb.data;
}

/* ------------------------------------------------------------------ */
/* JSON lines files */

struct fi_jlines {
  FILE *f;
  char *name;
  int is_stdin;
  int64_t lineno;
  fi_jbuf line;
  fi_json_parser *p;
};

fi_jlines *fi_jlines_open(const char *path) {
  fi_jlines *j = fi_calloc(1, sizeof *j);
  const char *name;
  int fd = fi_open_input(path, &name); /* "-", a closed stdin, a directory: as every input */
  j->is_stdin = fd == 0;
  j->f = j->is_stdin ? stdin : fdopen(fd, "rb");
  if (!j->f) fi_die("cannot open '%s': %s", path, strerror(errno));
  j->name = fi_strdup(name);
  j->p = fi_json_parser_new();
  return j;
}

int64_t fi_jlines_lineno(const fi_jlines *j) { return j->lineno; }

/* One line into j->line (without '\n'); 0 at EOF. The limit keeps memory per
 * record bounded even for input without newlines: JSON text of a tensor is
 * at most ~25 bytes per binary byte (u8 "255," is 4; f32 is <= 16/4). */
static int read_line(fi_jlines *j) {
  size_t limit = fi_max_record_bytes();
  limit = limit > SIZE_MAX / 32 ? SIZE_MAX : limit * 32;
  j->line.n = 0;
  int c, any = 0;
  while ((c = getc_unlocked(j->f)) != EOF) {
    any = 1;
    if (c == '\n') break;
    if (j->line.n >= limit)
      fi_die("%s: line %lld: longer than %zu bytes (FASTIF_MAX_RECORD_MB)", j->name, (long long)j->lineno + 1, limit);
    jb_c(&j->line, (char)c);
  }
  if (ferror(j->f)) fi_die("%s: read error: %s", j->name, strerror(errno));
  if (!any) return 0;
  j->lineno++;
  return 1;
}

const void *fi_jlines_next(fi_jlines *j, int require_id, size_t *nbytes) {
  while (read_line(j)) {
    size_t k = 0;
    while (k < j->line.n && strchr(" \t\r", j->line.p[k])) k++;
    if (k == j->line.n) continue; /* blank line */
    size_t col;
    const char *why;
    const void *m = fi_json_parse(j->p, j->line.p, j->line.n, require_id, nbytes, &col, &why);
    if (!m) fi_die("%s: line %lld, column %zu: %s", j->name, (long long)j->lineno, col, why);
    return m;
  }
  return NULL;
}

void fi_jlines_close(fi_jlines *j) {
  if (!j) return;
  if (!j->is_stdin) fclose(j->f);
  fi_json_parser_free(j->p);
  fi_jbuf_free(&j->line);
  free(j->name);
  free(j);
}

/* Replays an encoding through the writer. The encoding is already msgpack-c's
 * canonical form, so msgpack_pack_object reproduces it byte for byte. */
void fi_json_write_encoded(fi_writer *w, const void *bytes, size_t n) {
  static msgpack_unpacked unp;
  static int init;
  if (!init) msgpack_unpacked_init(&unp), init = 1;
  size_t off = 0;
  if (msgpack_unpack_next(&unp, bytes, n, &off) != MSGPACK_UNPACK_SUCCESS || off != n)
    fi_die("internal: cannot re-read an encoded record");
  fi_vcopy(w, (fi_val){&unp.data});
}
