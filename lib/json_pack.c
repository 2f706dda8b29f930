/* json_pack.c - the value tree of a parsed JSON line -> the canonical
 * (smallest) msgpack encoding of the record, msgpack-c's, which is also
 * Python msgpack's, so stream -> JSON -> stream is byte-identical. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"
#include "util.h"

static const char *sval(fi_json_parser *p, const jnode *d) { return p->str.p + d->off; }
static int str_is(fi_json_parser *p, const jnode *d, const char *s) {
  return d->kind == J_STR && d->len == strlen(s) && !memcmp(sval(p, d), s, d->len);
}

/* NUL-terminated copy of a number's text for strto*. */
static const char *numtext(fi_json_parser *p, const jnode *d) {
  p->num.n = 0;
  fi_jb_put(&p->num, p->s + d->off, d->len);
  fi_jb_c(&p->num, 0);
  return p->num.p;
}

/* Integer node -> int64 or uint64. Returns 0 ok (neg says which), -1 error. */
static int num_int(fi_json_parser *p, const jnode *d, int64_t *i, uint64_t *u, int *neg) {
  if (!d->isint) return fi_json_fail(p, d->col, "integer expected");
  const char *t = numtext(p, d);
  errno = 0;
  if (t[0] == '-') {
    long long v = strtoll(t, NULL, 10);
    if (errno == ERANGE) return fi_json_fail(p, d->col, "integer below the int64 range");
    *i = v;
    *neg = v < 0;
    *u = v < 0 ? 0 : (uint64_t)v;
  } else {
    unsigned long long v = strtoull(t, NULL, 10);
    if (errno == ERANGE) return fi_json_fail(p, d->col, "integer above the uint64 range");
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
  if (!isfinite(x)) return fi_json_fail(p, d->col, "number out of the float64 range");
  msgpack_pack_double(&p->pk, x);
  return 0;
}

static int b64val(int c) {
  const char *h = c ? strchr(fi_json_b64, c) : NULL;
  return h ? (int)(h - fi_json_b64) : -1;
}

/* Strict base64 (padding required, unused bits zero) so that one text means
 * one byte string, keeping the round trip exact. */
static int pack_base64(fi_json_parser *p, const jnode *d) {
  const char *s = sval(p, d);
  size_t n = d->len;
  if (n % 4) return fi_json_fail(p, d->col, "$bin: base64 length is not a multiple of 4");
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
      if (v[k] < 0) return fi_json_fail(p, d->col, "$bin: invalid base64 character");
    }
    uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
    int nb = last ? 3 - (int)pad : 3;
    if (last && pad && (w & (pad == 2 ? 0xffffu : 0xffu)))
      return fi_json_fail(p, d->col, "$bin: non-canonical base64 (unused bits set)");
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
    return fi_json_fail(p, d->col, "tensor element expected (a number) at nesting depth %d", k);
  }
  if (d->kind != J_ARR) return fi_json_fail(p, d->col, "list expected at nesting depth %d of tensor data (shape has %d dims)", k, t->ndim);
  if ((int64_t)d->len != t->shape[k])
    return fi_json_fail(p, d->col, "tensor data has %u entries at depth %d, shape says %" PRId64, d->len, k, t->shape[k]);
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
    if (fi_json_nonfinite_parse(sval(p, d), d->len, t->dtype == FI_F32 ? 32 : 64, &u))
      return fi_json_fail(p, d->col, "tensor element: string is not NaN, -NaN, Infinity, -Infinity or NaN:0x<bits>");
  } else if (t->dtype == FI_F32) {
    float x = strtof(numtext(p, d), NULL); /* direct, no double rounding */
    if (!isfinite(x)) return fi_json_fail(p, d->col, "tensor element out of the f32 range");
    uint32_t b;
    memcpy(&b, &x, 4);
    u = b;
  } else if (t->dtype == FI_F64) {
    double x = strtod(numtext(p, d), NULL);
    if (!isfinite(x)) return fi_json_fail(p, d->col, "tensor element out of the f64 range");
    memcpy(&u, &x, 8);
  } else {
    int64_t i;
    uint64_t uu;
    int neg;
    if (!d->isint) return fi_json_fail(p, d->col, "%s tensor element must be an integer", fi_dtype_name(t->dtype));
    if (num_int(p, d, &i, &uu, &neg)) return -1;
    int ok = t->dtype == FI_I64 ? (neg || uu <= INT64_MAX)
             : t->dtype == FI_I32 ? (i >= INT32_MIN && i <= INT32_MAX)
                                  : (!neg && uu <= 255);
    if (!ok) return fi_json_fail(p, d->col, "tensor element out of the %s range", fi_dtype_name(t->dtype));
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
    fi_json_fail(p, dt->col, "tensor dtype must be one of f32, f64, i32, i64, u8");
    goto out;
  }
  if (sh->kind != J_ARR) {
    fi_json_fail(p, sh->col, "tensor shape must be a list of integers");
    goto out;
  }
  if (sh->len > FI_MAX_NDIM) {
    fi_json_fail(p, sh->col, "tensor has %u dims, at most %d allowed", sh->len, FI_MAX_NDIM);
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
      fi_json_fail(p, d->col, "tensor shape must be a list of integers");
      goto out;
    }
    if (num_int(p, d, &i, &u, &neg)) goto out;
    if (neg || u > limit || (u > 1 && bound > limit / u)) {
      fi_json_fail(p, d->col, "tensor dimension %d (%s) is negative or exceeds the record size limit", k, numtext(p, d));
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
    fi_json_fail(p, p->nodes[data].col, "tensor data larger than 4 GiB");
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
    return fi_json_fail(p, o->col, "an object with a \"dtype\" key is a tensor and needs exactly dtype, shape and data");
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
    return fi_json_fail(p, d->col, "nested deeper than %d levels", FI_JSON_MAX_MSGPACK_DEPTH);
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
      return fi_json_fail(p, d->col, "nested deeper than %d levels", FI_JSON_MAX_MSGPACK_DEPTH);
    return pack_tensor(p, id);
  }
  if (form == 2 || form == 3) {
    const jnode *v = &p->nodes[p->nodes[id + 1].next];
    if (v->kind != J_STR) return fi_json_fail(p, v->col, "%s must be a string", form == 2 ? "$bin" : "$float");
    if (form == 2) return pack_base64(p, v);
    uint64_t u;
    if (fi_json_nonfinite_parse(sval(p, v), v->len, 64, &u))
      return fi_json_fail(p, v->col, "$float must be NaN, -NaN, Infinity, -Infinity or NaN:0x<16 hex digits>");
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
        return fi_json_fail(p, k->col, "duplicate key \"%.*s\"", (int)(k->len < 60 ? k->len : 60), sval(p, k));
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
  if (r->kind != J_OBJ) return fi_json_fail(p, r->col, "a record must be a JSON object");
  int have_id = 0;
  uint32_t c = 1; /* key of pair i; its value is nodes[c].next */
  for (uint32_t i = 0; i < r->len; i++) {
    const jnode *k = &p->nodes[c];
    const jnode *v = &p->nodes[k->next];
    if (memchr(sval(p, k), 0, k->len)) return fi_json_fail(p, k->col, "a record's keys may not contain NUL");
    if (str_is(p, k, "id")) {
      have_id = 1;
      if (v->kind != J_STR) return fi_json_fail(p, v->col, "\"id\" must be a string");
      if (v->len == 0) return fi_json_fail(p, v->col, "\"id\" is empty");
      if (v->len > 4096) return fi_json_fail(p, v->col, "\"id\" is longer than 4096 bytes");
      for (uint32_t j = 0; j < v->len; j++) {
        unsigned char ch = (unsigned char)sval(p, v)[j];
        if (ch <= 0x20 || ch == 0x7f) return fi_json_fail(p, v->col, "\"id\" contains whitespace or a control character");
      }
    }
    c = v->next;
  }
  if (require_id && !have_id) return fi_json_fail(p, r->col, "record has no \"id\"");
  return 0;
}

int fi_json_pack(fi_json_parser *p, int require_id) {
  if (check_record(p, require_id)) return -1;
  return pack_node(p, 0, 1);
}
