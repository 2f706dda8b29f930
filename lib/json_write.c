/* json_write.c - a record as one line of JSON (fi_json_record, json.h).
 * Floats print with the shortest decimal that reads back to the same bits,
 * ints exactly over the whole int64/uint64 range, tensors as nested lists. */
#include <inttypes.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"
#include "util.h"

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
  fi_jb_reserve(b, (size_t)n + 2);
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
      fi_jb_s(b, esc);
    } else if (ch < 0x20) {
      char u[8];
      snprintf(u, sizeof u, "\\u%04x", ch);
      fi_jb_s(b, u);
    } else {
      fi_jb_c(b, (char)ch);
    }
  }
  fi_jb_c(b, '"');
}

static void put_base64(fi_jbuf *b, const unsigned char *p, size_t n) {
  fi_jb_reserve(b, (n + 2) / 3 * 4 + 2);
  char *o = b->p + b->n;
  *o++ = '"';
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    *o++ = fi_json_b64[v >> 18];
    *o++ = fi_json_b64[v >> 12 & 63];
    *o++ = fi_json_b64[v >> 6 & 63];
    *o++ = fi_json_b64[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)p[i] << 16;
    *o++ = fi_json_b64[v >> 18];
    *o++ = fi_json_b64[v >> 12 & 63];
    *o++ = '=';
    *o++ = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
    *o++ = fi_json_b64[v >> 18];
    *o++ = fi_json_b64[v >> 12 & 63];
    *o++ = fi_json_b64[v >> 6 & 63];
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
  case FI_F32:
  case FI_F64: {
    int bits = t->dtype == FI_F32 ? 32 : 64;
    float f;
    double x;
    if (bits == 32) {
      uint32_t u32 = (uint32_t)u;
      memcpy(&f, &u32, 4);
      x = f;
    } else {
      memcpy(&x, &u, 8);
    }
    if (!isfinite(x)) {
      fi_json_nonfinite_text(buf, sizeof buf, u, bits);
      fi_jb_c(b, '"'), fi_jb_s(b, buf), fi_jb_c(b, '"');
      return;
    }
    if (bits == 32) fmt_f32(buf, sizeof buf, f);
    else fmt_f64(buf, sizeof buf, x);
    break;
  }
  case FI_I32: snprintf(buf, sizeof buf, "%" PRId32, (int32_t)(uint32_t)u); break;
  case FI_I64: snprintf(buf, sizeof buf, "%" PRId64, (int64_t)u); break;
  case FI_U8: snprintf(buf, sizeof buf, "%u", (unsigned)u); break;
  default: fi_die("internal: bad dtype %d", (int)t->dtype);
  }
  fi_jb_s(b, buf);
}

/* Nested lists, row-major; recursion depth is ndim <= FI_MAX_NDIM. */
static void put_dims(fi_jbuf *b, const fi_tensor *t, int k, int64_t *next) {
  if (k == t->ndim) {
    put_element(b, t, (*next)++);
    return;
  }
  fi_jb_c(b, '[');
  for (int64_t i = 0; i < t->shape[k]; i++) {
    if (i) fi_jb_c(b, ',');
    put_dims(b, t, k + 1, next);
  }
  fi_jb_c(b, ']');
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
  fi_jb_c(b, '{');
  for (uint32_t i = 0; i < 3; i++) {
    fi_val k = fi_map_key(m, i);
    if (i) fi_jb_c(b, ',');
    if (key_is(k, "dtype")) {
      fi_jb_s(b, "\"dtype\":\"");
      fi_jb_s(b, fi_dtype_name(t.dtype));
      fi_jb_c(b, '"');
    } else if (key_is(k, "shape")) {
      fi_jb_s(b, "\"shape\":[");
      for (int d = 0; d < t.ndim; d++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%s%" PRId64, d ? "," : "", t.shape[d]);
        fi_jb_s(b, buf);
      }
      fi_jb_c(b, ']');
    } else {
      fi_jb_s(b, "\"data\":");
      int64_t next = 0;
      put_dims(b, &t, 0, &next);
    }
  }
  fi_jb_c(b, '}');
}

static void put_value(dctx *c, fi_val v, int depth) {
  const msgpack_object *o = (const msgpack_object *)v.o;
  fi_jbuf *b = c->out;
  char buf[64];
  if ((o->type == MSGPACK_OBJECT_ARRAY || o->type == MSGPACK_OBJECT_MAP) && depth > FI_JSON_MAX_MSGPACK_DEPTH)
    fi_rec_die(c->rec, "field '%s': nested deeper than %d levels", c->field, FI_JSON_MAX_MSGPACK_DEPTH);
  switch (o->type) {
  case MSGPACK_OBJECT_NIL: fi_jb_s(b, "null"); return;
  case MSGPACK_OBJECT_BOOLEAN: fi_jb_s(b, o->via.boolean ? "true" : "false"); return;
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
    snprintf(buf, sizeof buf, "%" PRIu64, o->via.u64);
    fi_jb_s(b, buf);
    return;
  case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    snprintf(buf, sizeof buf, "%" PRId64, o->via.i64);
    fi_jb_s(b, buf);
    return;
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64: {
    double x = o->via.f64;
    if (!isfinite(x)) {
      uint64_t u;
      memcpy(&u, &x, 8);
      fi_json_nonfinite_text(buf, sizeof buf, u, 64);
      fi_jb_s(b, "{\"$float\":\""), fi_jb_s(b, buf), fi_jb_s(b, "\"}");
      return;
    }
    fmt_f64(buf, sizeof buf, x);
    fi_jb_s(b, buf);
    /* keep it a float when read back: integers-looking text would become int */
    if (!strpbrk(buf, ".e")) fi_jb_s(b, ".0");
    return;
  }
  case MSGPACK_OBJECT_STR: put_jstring(c, o->via.str.ptr, o->via.str.size, "a string"); return;
  case MSGPACK_OBJECT_BIN:
    fi_jb_s(b, "{\"$bin\":");
    put_base64(b, (const unsigned char *)o->via.bin.ptr, o->via.bin.size);
    fi_jb_c(b, '}');
    return;
  case MSGPACK_OBJECT_ARRAY:
    fi_jb_c(b, '[');
    for (uint32_t i = 0; i < o->via.array.size; i++) {
      if (i) fi_jb_c(b, ',');
      put_value(c, fi_arr_at(v, i), depth + 1);
    }
    fi_jb_c(b, ']');
    return;
  case MSGPACK_OBJECT_MAP: {
    uint32_t n = o->via.map.size;
    if (fi_val_is_tensor(v)) { /* the reader has validated every map with "dtype" */
      put_tensor(c, v);
      return;
    }
    if (n == 1 && (key_is(fi_map_key(v, 0), "$bin") || key_is(fi_map_key(v, 0), "$float")))
      fi_rec_die(c->rec, "field '%s': a map whose only key is \"$bin\" or \"$float\" is reserved for the JSON form", c->field);
    fi_jb_c(b, '{');
    for (uint32_t i = 0; i < n; i++) {
      fi_val k = fi_map_key(v, i);
      if (fi_val_kind(k) != FI_V_STR) fi_rec_die(c->rec, "field '%s': map key is not a string", c->field);
      if (i) fi_jb_c(b, ',');
      uint32_t kn;
      const char *kp = fi_val_raw(k, &kn);
      put_jstring(c, kp, kn, "a map key");
      fi_jb_c(b, ':');
      put_value(c, fi_map_value(v, i), depth + 1);
    }
    fi_jb_c(b, '}');
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
  fi_jb_c(out, '{');
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
    if (i) fi_jb_c(out, ',');
    put_jstring(&c, kp, kn, "the key");
    fi_jb_c(out, ':');
    put_value(&c, fi_map_value(root, i), 2);
  }
  fi_jb_s(out, "}\n");
}
