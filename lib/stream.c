/* stream.c - msgpack tensor stream reader and writer (formats/stream.md).
 *
 * Reading: a resumable scanner walks msgpack headers to find where the next
 * record ends, pulling more input in large reads into a buffer that doubles
 * only when full of bytes received, so a declared size never allocates more
 * than twice what the input actually holds (and is capped by
 * fi_max_record_bytes()). A complete record is validated from its bytes;
 * msgpack-c decodes a field only when asked, referencing str/bin bytes in our
 * buffer (no copies).
 * Writing: msgpack-c packer over a 1 MiB buffer; large payloads bypass it. */
#include "stream.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sniff.h"
#include "util.h"


static const char *const dtype_names[FI_NDTYPES] = {"f32", "f64", "i32", "i64", "u8"};
static const size_t dtype_sizes[FI_NDTYPES] = {4, 8, 4, 8, 1};

const char *fi_dtype_name(fi_dtype d) { return d < FI_NDTYPES ? dtype_names[d] : "?"; }
size_t fi_dtype_size(fi_dtype d) { return d < FI_NDTYPES ? dtype_sizes[d] : 0; }

size_t fi_max_record_bytes(void) {
  static size_t lim;
  if (!lim) {
    const char *e = getenv("FASTIF_MAX_RECORD_MB");
    long long mb = 2047;
    if (e && (fi_parse_ll(e, &mb) || mb < 1 || mb > 1 << 20)) fi_die("FASTIF_MAX_RECORD_MB must be 1..1048576, not '%s'", e);
    lim = (size_t)mb << 20;
  }
  return lim;
}

/* ---- per-record arena: NUL-terminated copies, converted tensors ---- */
typedef struct arena_block {
  struct arena_block *next;
  size_t cap, used;
  _Alignas(64) unsigned char data[];
} arena_block;

typedef struct {
  arena_block *head;
} arena;

static void *arena_alloc(arena *a, size_t n) {
  n = (n + 63) & ~(size_t)63;
  if (!a->head || a->head->cap - a->head->used < n) {
    size_t cap = n > (1 << 16) ? n : (1 << 16);
    arena_block *b = fi_malloc(sizeof *b + cap);
    b->cap = cap;
    b->used = 0;
    b->next = a->head;
    a->head = b;
  }
  void *p = a->head->data + a->head->used;
  a->head->used += n;
  return p;
}

static void arena_reset(arena *a) {
  /* Keep one block (the newest, largest) so steady state allocates nothing. */
  if (!a->head) return;
  arena_block *keep = a->head, *b = keep->next;
  while (b) {
    arena_block *n = b->next;
    free(b);
    b = n;
  }
  keep->next = NULL;
  keep->used = 0;
}

static void arena_free(arena *a) {
  arena_reset(a);
  free(a->head);
  a->head = NULL;
}

/* ---- reader ----
 * A record is validated from its encoding (framing, nesting depth, keys, id,
 * every tensor) without building msgpack-c objects; a field's value is
 * decoded into objects only when a tool asks for it, so a field nobody reads
 * (a 10 MB array of nils passed through) costs no more than its bytes. */
#define MAX_DEPTH 32 /* maps and arrays, the record included (formats/stream.md) */

/* Where a top-level field's key and value are encoded. */
typedef struct {
  const unsigned char *v;         /* the value's encoding */
  size_t vlen;
  const char *k;                  /* key bytes (k != NULL only for a str key) */
  uint32_t klen;
  const msgpack_object *obj;      /* the value, once decoded */
} rawfield;

struct fi_record {
  fi_reader *r;
  const char *id;
  int64_t index;
  uint64_t offset;
  size_t nbytes;
  const unsigned char *bytes;
  int nfields;
  const char **keys;     /* NUL-terminated copies, in record order */
  rawfield *f;
  uint32_t *slots;       /* key hash: field index + 1, 0 = empty; NULL for few fields */
  uint32_t mask;
};

struct fi_reader {
  int fd;
  char *name;
  unsigned char *buf;
  size_t cap, start, end;   /* valid bytes are buf[start, end) */
  uint64_t base;            /* stream offset of buf[0] */
  int eof;
  int single;               /* a single-map file (fi_read_single): a model */
  int64_t nread;            /* records handed out */
  int borrowed;             /* buf is the caller's bytes (fi_reader_set_bytes); no descriptor */
  off_t origin;             /* the descriptor's offset when opened (-1: not seekable), for fi_reader_rewind */
  msgpack_zone zone;        /* decoded values of the current record */
  const msgpack_object *root; /* the whole current record, once decoded */
  arena ar;
  fi_record rec;
  int have_rec;
  size_t rec_end;
};

fi_reader *fi_reader_open(const char *path) {
  const char *name;
  int fd = fi_open_input(path, &name); /* before allocating: a missing file leaks nothing */
  fi_reader *r = fi_calloc(1, sizeof *r);
  r->fd = fd;
  r->origin = lseek(fd, 0, SEEK_CUR);
  r->name = fi_strdup(name);
  r->cap = 1 << 20;
  r->buf = fi_malloc(r->cap);
  if (!msgpack_zone_init(&r->zone, 1 << 13)) fi_die("out of memory");
  return r;
}

const char *fi_reader_name(const fi_reader *r) { return r->name; }

int fi_reader_rewind(fi_reader *r) {
  if (r->origin < 0 || lseek(r->fd, r->origin, SEEK_SET) != r->origin) return -1;
  r->start = r->end = r->rec_end = 0;
  r->base = 0;
  r->eof = r->have_rec = 0;
  r->nread = 0;
  r->root = NULL;
  return 0;
}

fi_reader *fi_reader_open_bytes(const char *name) {
  fi_reader *r = fi_calloc(1, sizeof *r);
  r->fd = -1;
  r->origin = -1;
  r->borrowed = 1;
  r->eof = 1;
  r->name = fi_strdup(name);
  if (!msgpack_zone_init(&r->zone, 1 << 13)) fi_die("out of memory");
  return r;
}

void fi_reader_set_bytes(fi_reader *r, const void *bytes, size_t n, uint64_t offset, int64_t index) {
  if (!r->borrowed) fi_die("internal: %s: fi_reader_set_bytes on a file reader", r->name);
  arena_reset(&r->ar);
  msgpack_zone_clear(&r->zone);
  r->root = NULL;
  r->have_rec = 0;
  r->buf = (unsigned char *)bytes; /* read only: a borrowed buffer is never filled or moved */
  r->cap = r->end = n;
  r->start = r->rec_end = 0;
  r->base = offset;
  r->nread = index;
}

void fi_reader_close(fi_reader *r) {
  if (!r) return;
  if (r->fd > 0) close(r->fd);
  msgpack_zone_destroy(&r->zone);
  arena_free(&r->ar);
  if (!r->borrowed) free(r->buf);
  free(r->name);
  free(r);
}


/* What the start of the input is, when it is a known wrong kind of file. */
static const char *head_hint(const fi_reader *r, uint64_t off) {
  if (off != 0 || r->end == r->start) return NULL;
  return fi_sniff(r->buf + r->start, r->end - r->start, r->single ? FI_WANT_MODEL : FI_WANT_STREAM);
}

/* Error before a record is decoded: name it by index and byte offset, and
 * say what the file is when it is a known wrong kind. */
static _Noreturn void die_hint(fi_reader *r, uint64_t off, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static _Noreturn void die_hint(fi_reader *r, uint64_t off, const char *hint, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fi_die("%s: record #%" PRId64 " (byte %" PRIu64 "): %s%s%s", r->name, r->nread, off, msg, hint ? "; " : "",
         hint ? hint : "");
}
#define die_at(r, off, ...) die_hint(r, off, NULL, __VA_ARGS__)

/* Pull more input into the buffer; returns bytes read (0 at EOF). The
 * buffer may be compacted or moved, so no record may be live: its fields
 * point into the buffer. */
static size_t fill(fi_reader *r) {
  if (r->have_rec) fi_die("internal: %s: input buffer refilled under a live record", r->name);
  if (r->eof) return 0;
  if (r->end == r->cap) {
    if (r->start > 0) {
      memmove(r->buf, r->buf + r->start, r->end - r->start);
      r->base += r->start;
      r->end -= r->start;
      r->start = 0;
    }
    if (r->end == r->cap) {
      /* Double, and only when full of bytes really received: the buffer
       * stays within twice the record however large a size it declares,
       * and reads stay large however small its elements are. */
      size_t ncap = r->cap * 2, lim = fi_max_record_bytes() + 1;
      if (ncap > lim && lim > r->cap) ncap = lim;
      r->buf = fi_realloc(r->buf, ncap);
      r->cap = ncap;
    }
  }
  for (;;) {
    ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
    if (n > 0) {
      r->end += (size_t)n;
      return (size_t)n;
    }
    if (n == 0) {
      r->eof = 1;
      return 0;
    }
    if (errno == EINTR) continue;
    fi_die("reading %s: %s", r->name, strerror(errno));
  }
}

static inline uint64_t be(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = v << 8 | p[i];
  return v;
}

/* The msgpack header at p: 1 with its length *hdr, the payload bytes *body
 * after it and the values *kids after that (two per map pair); 0 when fewer
 * than *hdr bytes are available; -1 for the unused byte 0xc1. */
static inline __attribute__((always_inline)) int header(const unsigned char *p, size_t avail, uint64_t *hdr, uint64_t *body,
                                                    uint64_t *kids) {
  unsigned c = p[0];
  *hdr = 1, *body = 0, *kids = 0;
  if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) return 1;
  if (c <= 0x8f) {
    *kids = 2 * (uint64_t)(c & 0x0f);
    return 1;
  }
  if (c <= 0x9f) {
    *kids = c & 0x0f;
    return 1;
  }
  if (c <= 0xbf) {
    *body = c & 0x1f;
    return 1;
  }
  int lenbytes = 0;
  switch (c) {
  case 0xc4: case 0xd9: lenbytes = 1; *hdr = 2; break;
  case 0xc5: case 0xda: lenbytes = 2; *hdr = 3; break;
  case 0xc6: case 0xdb: lenbytes = 4; *hdr = 5; break;
  case 0xc7: lenbytes = 1; *hdr = 3; break;
  case 0xc8: lenbytes = 2; *hdr = 4; break;
  case 0xc9: lenbytes = 4; *hdr = 6; break;
  case 0xca: *hdr = 5; break;
  case 0xcb: *hdr = 9; break;
  case 0xcc: case 0xd0: *hdr = 2; break;
  case 0xcd: case 0xd1: *hdr = 3; break;
  case 0xce: case 0xd2: *hdr = 5; break;
  case 0xcf: case 0xd3: *hdr = 9; break;
  case 0xd4: *hdr = 3; break;
  case 0xd5: *hdr = 4; break;
  case 0xd6: *hdr = 6; break;
  case 0xd7: *hdr = 10; break;
  case 0xd8: *hdr = 18; break;
  case 0xdc: *hdr = 3; break;
  case 0xdd: *hdr = 5; break;
  case 0xde: *hdr = 3; break;
  case 0xdf: *hdr = 5; break;
  default: return -1; /* 0xc1 is never used */
  }
  if (*hdr > avail) return 0;
  if (lenbytes) *body = be(p + 1, lenbytes);
  if (c == 0xdc || c == 0xdd) *kids = be(p + 1, c == 0xdc ? 2 : 4);
  if (c == 0xde || c == 0xdf) *kids = 2 * be(p + 1, c == 0xde ? 2 : 4);
  return 1;
}

/* Resumable scan of one msgpack object starting at p[0].
 * Returns 1 when complete (*pos = its length), 0 when more bytes are needed
 * (*need = total length known so far), -1 on an invalid byte at *pos. */
static int scan(const unsigned char *p, size_t avail, size_t *pos, uint64_t *pending, uint64_t *need) {
  while (*pending > 0) {
    size_t at = *pos;
    if (at >= avail) {
      *need = at + 1;
      return 0;
    }
    uint64_t hdr, body, kids;
    int h = header(p + at, avail - at, &hdr, &body, &kids);
    if (h < 0) return -1;
    if (h == 0 || at + hdr + body > avail) {
      *need = at + hdr + (h ? body : 0);
      return 0;
    }
    *pos = at + hdr + body;
    *pending = *pending - 1 + kids;
  }
  return 1;
}

static inline int is_map_byte(unsigned c) { return (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf; }
static inline int is_array_byte(unsigned c) { return (c >= 0x90 && c <= 0x9f) || c == 0xdc || c == 0xdd; }

/* The bytes of a msgpack str at p, or NULL when p is not a str. */
static const char *raw_str(const unsigned char *p, uint32_t *len) {
  uint64_t hdr, body, kids;
  unsigned c = p[0];
  if (!((c >= 0xa0 && c <= 0xbf) || c == 0xd9 || c == 0xda || c == 0xdb)) return NULL;
  header(p, SIZE_MAX, &hdr, &body, &kids);
  *len = (uint32_t)body;
  return (const char *)p + hdr;
}

static int key_is(const msgpack_object *k, const char *s) {
  size_t n = strlen(s);
  /* msgpack-c leaves ptr NULL for an empty string: never memcmp it */
  return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && (n == 0 || !memcmp(k->via.str.ptr, s, n));
}

static const msgpack_object *map_get(const msgpack_object *m, const char *key) {
  if (m->type != MSGPACK_OBJECT_MAP) return NULL;
  for (uint32_t i = 0; i < m->via.map.size; i++)
    if (key_is(&m->via.map.ptr[i].key, key)) return &m->via.map.ptr[i].val;
  return NULL;
}

/* Validate a tensor map; returns NULL if fine, else why. */
static const char *tensor_view(const msgpack_object *o, fi_tensor *t) {
  if (o->type != MSGPACK_OBJECT_MAP) return "not a tensor map";
  const msgpack_object *dt = map_get(o, "dtype"), *sh = map_get(o, "shape"), *da = map_get(o, "data");
  if (!dt || !sh || !da) return "tensor needs dtype, shape and data";
  if (o->via.map.size != 3) return "tensor map has fields other than dtype, shape, data";
  if (dt->type != MSGPACK_OBJECT_STR) return "tensor dtype is not a string";
  int d = -1;
  for (int i = 0; i < FI_NDTYPES; i++)
    if (key_is(dt, dtype_names[i])) d = i;
  if (d < 0) return "unknown tensor dtype (want f32, f64, i32, i64 or u8)";
  if (sh->type != MSGPACK_OBJECT_ARRAY) return "tensor shape is not an array";
  if (sh->via.array.size > FI_MAX_NDIM) return "tensor has more than 8 dimensions";
  t->dtype = (fi_dtype)d;
  t->ndim = (int)sh->via.array.size;
  uint64_t n = 1;
  for (int i = 0; i < t->ndim; i++) {
    const msgpack_object *e = &sh->via.array.ptr[i];
    if (e->type != MSGPACK_OBJECT_POSITIVE_INTEGER) return "tensor shape entries must be non-negative integers";
    if (e->via.u64 > (1ULL << 62) || __builtin_mul_overflow(n, e->via.u64, &n) || n > (1ULL << 62))
      return "tensor shape is too large";
    t->shape[i] = (int64_t)e->via.u64;
  }
  if (da->type != MSGPACK_OBJECT_BIN) return "tensor data is not binary";
  uint64_t bytes;
  if (__builtin_mul_overflow(n, (uint64_t)dtype_sizes[d], &bytes) || bytes != da->via.bin.size)
    return "tensor data length does not match dtype and shape";
  t->n = (int64_t)n;
  t->data = da->via.bin.ptr;
  t->nbytes = da->via.bin.size;
  return NULL;
}

/* msgpack-c objects for the n encoded bytes at p (framed and depth-checked
 * already), living until the next record. */
static const msgpack_object *decode(fi_reader *r, const unsigned char *p, size_t n) {
  msgpack_object *o = msgpack_zone_malloc(&r->zone, sizeof *o);
  size_t used = 0;
  if (!o) fi_die("out of memory");
  msgpack_unpack_return ret = msgpack_unpack((const char *)p, n, &used, &r->zone, o);
  if (ret == MSGPACK_UNPACK_NOMEM_ERROR) fi_die("out of memory decoding a record of %s", r->name);
  if (ret != MSGPACK_UNPACK_SUCCESS || used != n) fi_die("internal: %s: cannot decode a validated value", r->name);
  return o;
}

/* One walk over a record's encoding: checks nesting depth, records where the
 * top-level fields are, and validates every map with a "dtype" key at any
 * depth (inside arrays and nested maps too; never inside keys) as a tensor,
 * keeping the first invalid one and the innermost key that holds it. */
typedef struct {
  fi_reader *r;
  uint64_t off;
  const char *why;
  const char *where;
  uint32_t wherelen;
} walker;

/* The end of a value that is not a map or an array. */
static inline const unsigned char *skip_scalar(const unsigned char *p) {
  uint64_t hdr, body, kids;
  header(p, SIZE_MAX, &hdr, &body, &kids);
  return p + hdr + body;
}
#define WALK(w, q, depth, tensors, top, decoded) \
  (is_map_byte(*(q)) || is_array_byte(*(q)) ? walk(w, q, depth, tensors, top, decoded) : skip_scalar(q))

static const unsigned char *walk(walker *w, const unsigned char *p, int depth, int tensors, fi_record *top,
                                 const msgpack_object **decoded) {
  uint64_t hdr, body, kids;
  header(p, SIZE_MAX, &hdr, &body, &kids);
  int map = is_map_byte(p[0]);
  if (depth > MAX_DEPTH) die_at(w->r, w->off, "corrupt record (invalid or too deeply nested msgpack)");
  const unsigned char *q = p + hdr;
  if (!map) {
    for (uint64_t i = 0; i < kids; i++) q = WALK(w, q, depth + 1, tensors, NULL, NULL);
    return q;
  }
  uint64_t n = kids / 2;
  const char *why0 = w->why, *where0 = w->where;
  uint32_t wherelen0 = w->wherelen;
  int has_dtype = 0, has_shape = 0, has_data = 0;
  if (top) {
    top->nfields = (int)n;
    top->f = arena_alloc(&w->r->ar, fi_mul_size((size_t)n + 1, sizeof *top->f, "record fields"));
  }
  for (uint64_t i = 0; i < n; i++) {
    const unsigned char *k = q;
    q = WALK(w, q, depth + 1, 0, NULL, NULL);
    uint32_t klen = 0;
    const char *ks = raw_str(k, &klen);
    if (ks && klen == 5) {
      has_dtype |= !memcmp(ks, "dtype", 5);
      has_shape |= !memcmp(ks, "shape", 5);
    } else if (ks && klen == 4) {
      has_data |= !memcmp(ks, "data", 4);
    }
    const unsigned char *v = q;
    const char *before = w->why;
    const msgpack_object *vobj = NULL;
    q = WALK(w, q, depth + 1, tensors, NULL, top ? &vobj : NULL);
    if (tensors && !before && w->why && !w->where && ks) w->where = ks, w->wherelen = klen;
    if (top) top->f[i] = (rawfield){v, (size_t)(q - v), ks, klen, vobj};
  }
  if (tensors && has_dtype && !why0) {
    /* A tensor: its own check stands for anything found inside it. */
    w->where = where0, w->wherelen = wherelen0;
    if (!has_shape || !has_data) w->why = "tensor needs dtype, shape and data";
    else if (n != 3) w->why = "tensor map has fields other than dtype, shape, data";
    else {
      const msgpack_object *o = decode(w->r, p, (size_t)(q - p));
      fi_tensor t;
      w->why = tensor_view(o, &t);
      if (!w->why && decoded) *decoded = o;
    }
  }
  return q;
}

static uint32_t key_hash(const char *s, size_t n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

/* Index of the field named key[0..n), or -1. A hash when the record has many
 * fields: the duplicate check and lookups stay linear in the record. */
static int find_field(const fi_record *rec, int nknown, const char *key, size_t n) {
  if (!rec->slots) {
    for (int i = 0; i < nknown; i++)
      if (rec->f[i].klen == n && (n == 0 || !memcmp(rec->f[i].k, key, n))) return i;
    return -1;
  }
  for (uint32_t s = key_hash(key, n) & rec->mask;; s = (s + 1) & rec->mask) {
    uint32_t v = rec->slots[s];
    if (!v) return -1;
    const rawfield *f = &rec->f[v - 1];
    if (f->klen == n && (n == 0 || !memcmp(f->k, key, n))) return (int)v - 1;
  }
}

static void add_field(fi_record *rec, int i) {
  if (!rec->slots) return;
  uint32_t s = key_hash(rec->f[i].k, rec->f[i].klen) & rec->mask;
  while (rec->slots[s]) s = (s + 1) & rec->mask;
  rec->slots[s] = (uint32_t)i + 1;
}

/* Top-level keys: str, no NUL byte, unique; NUL-terminated copies. */
static void index_keys(fi_reader *r, fi_record *rec, uint64_t off) {
  int n = rec->nfields;
  size_t bytes = 0;
  for (int i = 0; i < n; i++) bytes += rec->f[i].klen + 1;
  rec->keys = arena_alloc(&r->ar, fi_mul_size((size_t)n + 1, sizeof *rec->keys, "record keys"));
  char *copy = arena_alloc(&r->ar, bytes + 1);
  if (n > 8) {
    uint32_t nslots = 16;
    while (nslots < 2 * (uint32_t)n) nslots *= 2;
    rec->slots = arena_alloc(&r->ar, fi_mul_size(nslots, sizeof *rec->slots, "record keys"));
    memset(rec->slots, 0, nslots * sizeof *rec->slots);
    rec->mask = nslots - 1;
  }
  for (int i = 0; i < n; i++) {
    const rawfield *f = &rec->f[i];
    if (!f->k) die_at(r, off, "field %d has a non-string key", i);
    if (f->klen && memchr(f->k, 0, f->klen)) die_at(r, off, "field %d key contains a NUL byte", i);
    if (f->klen) memcpy(copy, f->k, f->klen);
    copy[f->klen] = 0;
    rec->keys[i] = copy;
    copy += f->klen + 1;
    if (find_field(rec, i, f->k, f->klen) >= 0) die_at(r, off, "duplicate field '%s'", rec->keys[i]);
    add_field(rec, i);
  }
}

static char *arena_strndup(arena *a, const char *s, size_t n) {
  char *d = arena_alloc(a, n + 1);
  if (n) memcpy(d, s, n); /* s is NULL for an empty msgpack string */
  d[n] = 0;
  return d;
}

static const fi_record *read_record(fi_reader *r, int require_id) {
  /* Release the previous record. */
  if (r->have_rec) r->start = r->rec_end;
  r->have_rec = 0;
  arena_reset(&r->ar);
  msgpack_zone_clear(&r->zone);
  r->root = NULL;
  if (r->start == r->end && !r->eof) {
    r->base += r->start; /* empty buffer: rewind for free, offsets kept */
    r->start = r->end = 0;
  }
  size_t pos = 0;
  uint64_t pending = 1, need = 1;
  size_t maxrec = fi_max_record_bytes();
  for (;;) {
    int s = scan(r->buf + r->start, r->end - r->start, &pos, &pending, &need);
    if (s == 1) break;
    uint64_t off = r->base + r->start;
    if (s < 0)
      die_hint(r, off, pos ? NULL : head_hint(r, off), "corrupt stream: invalid msgpack byte 0x%02x at byte %" PRIu64,
               r->buf[r->start + pos], off + pos);
    if (need > maxrec)
      die_at(r, off, "record declares at least %" PRIu64 " bytes, more than the limit of %zu (FASTIF_MAX_RECORD_MB)", need, maxrec);
    if (fill(r) == 0) {
      if (r->end == r->start) return NULL; /* clean end of stream */
      die_at(r, off, "truncated stream: input ends at byte %" PRIu64 " inside a record that needs at least %" PRIu64 " bytes",
             r->base + r->end, need);
    }
  }
  uint64_t off = r->base + r->start;
  const unsigned char *p = r->buf + r->start;
  if (!is_map_byte(p[0])) die_hint(r, off, head_hint(r, off), "record is not a msgpack map (first byte 0x%02x)", p[0]);
  fi_record *rec = &r->rec;
  memset(rec, 0, sizeof *rec);
  rec->r = r;
  rec->index = r->nread;
  rec->offset = off;
  rec->nbytes = pos;
  rec->bytes = p;
  r->rec_end = r->start + pos;
  walker w = {r, off, NULL, NULL, 0};
  walk(&w, p, 1, 1, rec, NULL);
  index_keys(r, rec, off);
  int idf = find_field(rec, rec->nfields, "id", 2);
  if (idf >= 0) {
    uint32_t len;
    const char *id = raw_str(rec->f[idf].v, &len);
    if (!id) die_at(r, off, "field 'id' is not a string");
    if (len == 0) die_at(r, off, "field 'id' is empty");
    if (len > 4096) die_at(r, off, "field 'id' is longer than 4096 bytes");
    for (uint32_t i = 0; i < len; i++) {
      unsigned char c = (unsigned char)id[i];
      if (c <= 0x20 || c == 0x7f) die_at(r, off, "field 'id' contains whitespace or a control character");
    }
    rec->id = arena_strndup(&r->ar, id, len);
  } else if (require_id) {
    const char *hint = off == 0 ? fi_sniff_record(rec, FI_WANT_STREAM) : NULL;
    die_hint(r, off, hint ? hint : head_hint(r, off), "record has no 'id' field");
  } else {
    rec->id = "(no id)";
  }
  r->have_rec = 1;
  r->nread++;
  if (w.why) {
    if (w.where) fi_rec_die(rec, "field '%.*s': %s", (int)w.wherelen, w.where, w.why);
    fi_rec_die(rec, "%s", w.why);
  }
  return rec;
}

const fi_record *fi_read(fi_reader *r) { return read_record(r, 1); }

const fi_record *fi_read_single(fi_reader *r, const char *what) {
  r->single = 1;
  const fi_record *rec = read_record(r, 0);
  if (!rec) fi_die("%s: empty %s", r->name, what);
  /* Anything after the one map means this is not a single-map file. Look
   * with a read of our own: refilling the buffer would move it under the
   * record just returned. */
  int more = r->rec_end < r->end;
  while (!more && !r->eof) {
    unsigned char c;
    ssize_t n = read(r->fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fi_die("reading %s: %s", r->name, strerror(errno));
    more = n > 0;
    r->eof = n == 0;
  }
  if (more) {
    const char *hint = fi_sniff_record(rec, FI_WANT_MODEL);
    if (!hint) hint = head_hint(r, rec->offset);
    fi_die("%s: trailing data after the %s (byte %" PRIu64 ")%s%s", r->name, what, r->base + r->rec_end,
           hint ? "; " : "", hint ? hint : "");
  }
  return rec;
}

int fi_reader_peek(fi_reader *r) {
  if (r->have_rec) fi_die("internal: %s: peek with a record live", r->name);
  if (r->start == r->end && !fill(r)) return -1;
  return r->buf[r->start];
}

size_t fi_reader_chunk(fi_reader *r, const unsigned char **p) {
  if (r->have_rec) fi_die("internal: %s: raw read with a record live", r->name);
  if (r->start == r->end) {
    r->base += r->end;
    r->start = r->end = 0;
    if (!fill(r)) return 0;
  }
  *p = r->buf + r->start;
  size_t n = r->end - r->start;
  r->start = r->end;
  return n;
}

const char *fi_rec_id(const fi_record *rec) { return rec->id; }
int64_t fi_rec_index(const fi_record *rec) { return rec->index; }
uint64_t fi_rec_offset(const fi_record *rec) { return rec->offset; }
size_t fi_rec_nbytes(const fi_record *rec) { return rec->nbytes; }
const void *fi_rec_bytes(const fi_record *rec) { return rec->bytes; }
int fi_rec_nfields(const fi_record *rec) { return rec->nfields; }
const char *fi_rec_key_at(const fi_record *rec, int i) { return i >= 0 && i < rec->nfields ? rec->keys[i] : NULL; }

void fi_rec_die(const fi_record *rec, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fi_die("record '%s' (#%" PRId64 " of %s, byte %" PRIu64 "): %s", rec->id, rec->index, rec->r->name, rec->offset, msg);
}

/* A top-level field's value, decoded on first use; NULL when absent. */
static const msgpack_object *get(const fi_record *rec, const char *key) {
  int i = find_field(rec, rec->nfields, key, strlen(key));
  if (i < 0) return NULL;
  rawfield *f = &rec->f[i];
  if (!f->obj) f->obj = decode(rec->r, f->v, f->vlen);
  return f->obj;
}

static const msgpack_object *field(const fi_record *rec, const char *key, int required) {
  const msgpack_object *o = get(rec, key);
  if (!o && required) fi_rec_die(rec, "missing field '%s'", key);
  return o;
}

int fi_rec_has(const fi_record *rec, const char *key) { return find_field(rec, rec->nfields, key, strlen(key)) >= 0; }

static int obj_int(const msgpack_object *o, int64_t *out) {
  if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
    if (o->via.u64 > INT64_MAX) return -1;
    *out = (int64_t)o->via.u64;
    return 0;
  }
  if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
    *out = o->via.i64;
    return 0;
  }
  if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64) {
    double d = o->via.f64;
    if (d != floor(d) || fabs(d) > 9.0e15) return -1;
    *out = (int64_t)d;
    return 0;
  }
  return -1;
}

int fi_rec_int(const fi_record *rec, const char *key, int64_t *out, int required) {
  const msgpack_object *o = field(rec, key, required);
  if (!o) return 0;
  if (obj_int(o, out)) fi_rec_die(rec, "field '%s' is not an integer", key);
  return 1;
}

int fi_rec_double(const fi_record *rec, const char *key, double *out, int required) {
  const msgpack_object *o = field(rec, key, required);
  if (!o) return 0;
  int64_t i;
  if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64)
    *out = o->via.f64;
  else if (!obj_int(o, &i))
    *out = (double)i;
  else
    fi_rec_die(rec, "field '%s' is not a number", key);
  return 1;
}

const char *fi_rec_str(const fi_record *rec, const char *key, size_t *len, int required) {
  const msgpack_object *o = field(rec, key, required);
  if (!o) return NULL;
  if (o->type != MSGPACK_OBJECT_STR) fi_rec_die(rec, "field '%s' is not a string", key);
  if (len) *len = o->via.str.size;
  return arena_strndup(&rec->r->ar, o->via.str.ptr, o->via.str.size);
}

int64_t fi_rec_strs(const fi_record *rec, const char *key, const char ***out, int required) {
  const msgpack_object *o = field(rec, key, required);
  *out = NULL;
  if (!o) return 0;
  if (o->type != MSGPACK_OBJECT_ARRAY) fi_rec_die(rec, "field '%s' is not an array of strings", key);
  uint32_t n = o->via.array.size;
  const char **s = arena_alloc(&rec->r->ar, (n + 1) * sizeof *s);
  for (uint32_t i = 0; i < n; i++) {
    const msgpack_object *e = &o->via.array.ptr[i];
    if (e->type != MSGPACK_OBJECT_STR) fi_rec_die(rec, "field '%s' element %u is not a string", key, i);
    s[i] = arena_strndup(&rec->r->ar, e->via.str.ptr, e->via.str.size);
  }
  s[n] = NULL;
  *out = s;
  return n;
}

int fi_rec_tensor(const fi_record *rec, const char *key, fi_tensor *t, int required) {
  const msgpack_object *o = field(rec, key, required);
  if (!o) return 0;
  const char *why = tensor_view(o, t);
  if (why) fi_rec_die(rec, "field '%s': %s", key, why);
  return 1;
}

static void check_count(const fi_record *rec, const char *key, int64_t n, int64_t expect) {
  if (expect >= 0 && n != expect) fi_rec_die(rec, "field '%s' has %" PRId64 " values, expected %" PRId64, key, n, expect);
}

int64_t fi_rec_f32(const fi_record *rec, const char *key, int64_t expect, const float **out, int required) {
  fi_tensor t;
  *out = NULL;
  if (!fi_rec_tensor(rec, key, &t, required)) return 0;
  check_count(rec, key, t.n, expect);
  const float *v;
  if (t.dtype == FI_F32 && ((uintptr_t)t.data & 3) == 0) {
    v = t.data; /* zero copy: aligned in the read buffer */
  } else {
    float *f = arena_alloc(&rec->r->ar, fi_mul_size((size_t)t.n, sizeof(float), "tensor"));
    const unsigned char *p = t.data;
    for (int64_t i = 0; i < t.n; i++) {
      switch (t.dtype) {
      case FI_F32: memcpy(&f[i], p + 4 * i, 4); break;
      case FI_F64: { double d; memcpy(&d, p + 8 * i, 8); f[i] = (float)d; break; }
      case FI_I32: { int32_t x; memcpy(&x, p + 4 * i, 4); f[i] = (float)x; break; }
      case FI_I64: { int64_t x; memcpy(&x, p + 8 * i, 8); f[i] = (float)x; break; }
      default: f[i] = p[i]; break;
      }
    }
    v = f;
  }
  for (int64_t i = 0; i < t.n; i++)
    if (!isfinite(v[i])) fi_rec_die(rec, "field '%s' element %" PRId64 " is %s", key, i, isnan(v[i]) ? "NaN" : "infinite");
  *out = v;
  return t.n;
}

int64_t fi_rec_i32(const fi_record *rec, const char *key, const int32_t **out, int required) {
  fi_tensor t;
  *out = NULL;
  if (!fi_rec_tensor(rec, key, &t, required)) return 0;
  if (t.dtype == FI_I32 && ((uintptr_t)t.data & 3) == 0) {
    *out = t.data;
    return t.n;
  }
  if (t.dtype != FI_I32 && t.dtype != FI_I64 && t.dtype != FI_U8) fi_rec_die(rec, "field '%s' must be an integer tensor", key);
  int32_t *v = arena_alloc(&rec->r->ar, fi_mul_size((size_t)t.n, 4, "tensor"));
  const unsigned char *p = t.data;
  for (int64_t i = 0; i < t.n; i++) {
    if (t.dtype == FI_I32) memcpy(&v[i], p + 4 * i, 4);
    else if (t.dtype == FI_U8) v[i] = p[i];
    else {
      int64_t x;
      memcpy(&x, p + 8 * i, 8);
      if (x < INT32_MIN || x > INT32_MAX) fi_rec_die(rec, "field '%s' element %" PRId64 " does not fit in 32 bits", key, i);
      v[i] = (int32_t)x;
    }
  }
  *out = v;
  return t.n;
}

int64_t fi_rec_scored(const fi_record *rec, const char *key, const char ***ids, const float **scores, int required) {
  const msgpack_object *o = field(rec, key, required);
  *ids = NULL;
  *scores = NULL;
  if (!o) return 0;
  if (o->type != MSGPACK_OBJECT_ARRAY) fi_rec_die(rec, "field '%s' is not an array of {id, score} maps", key);
  uint32_t n = o->via.array.size;
  const char **s = arena_alloc(&rec->r->ar, (n + 1) * sizeof *s);
  float *f = arena_alloc(&rec->r->ar, (n + 1) * sizeof *f);
  for (uint32_t i = 0; i < n; i++) {
    const msgpack_object *e = &o->via.array.ptr[i], *id = map_get(e, "id"), *sc = map_get(e, "score");
    if (!id || id->type != MSGPACK_OBJECT_STR || !sc) fi_rec_die(rec, "field '%s' entry %u needs a string id and a score", key, i);
    s[i] = arena_strndup(&rec->r->ar, id->via.str.ptr, id->via.str.size);
    int64_t iv;
    if (sc->type == MSGPACK_OBJECT_FLOAT32 || sc->type == MSGPACK_OBJECT_FLOAT64) f[i] = (float)sc->via.f64;
    else if (!obj_int(sc, &iv)) f[i] = (float)iv;
    else fi_rec_die(rec, "field '%s' entry %u score is not a number", key, i);
  }
  s[n] = NULL;
  *ids = s;
  *scores = f;
  return n;
}

/* ---- generic values ---- */
#define OBJ(v) ((const msgpack_object *)(v).o)
static const msgpack_object nil_obj = {.type = MSGPACK_OBJECT_NIL};

fi_val fi_rec_root(const fi_record *rec) {
  fi_reader *r = rec->r;
  if (!r->root) r->root = decode(r, rec->bytes, rec->nbytes);
  return (fi_val){r->root};
}
fi_val fi_rec_get(const fi_record *rec, const char *key) { return (fi_val){get(rec, key)}; }

fi_vkind fi_val_kind(fi_val v) {
  if (!v.o) return FI_V_NONE;
  switch (OBJ(v)->type) {
  case MSGPACK_OBJECT_NIL: return FI_V_NIL;
  case MSGPACK_OBJECT_BOOLEAN: return FI_V_BOOL;
  case MSGPACK_OBJECT_POSITIVE_INTEGER:
  case MSGPACK_OBJECT_NEGATIVE_INTEGER: return FI_V_INT;
  case MSGPACK_OBJECT_FLOAT32:
  case MSGPACK_OBJECT_FLOAT64: return FI_V_FLOAT;
  case MSGPACK_OBJECT_STR: return FI_V_STR;
  case MSGPACK_OBJECT_BIN: return FI_V_BIN;
  case MSGPACK_OBJECT_ARRAY: return FI_V_ARRAY;
  case MSGPACK_OBJECT_MAP: return FI_V_MAP;
  default: return FI_V_EXT;
  }
}

fi_val fi_map_get(fi_val m, const char *key) { return (fi_val){m.o ? map_get(OBJ(m), key) : NULL}; }

uint32_t fi_val_len(fi_val v) {
  if (!v.o) return 0;
  const msgpack_object *o = OBJ(v);
  switch (o->type) {
  case MSGPACK_OBJECT_ARRAY: return o->via.array.size;
  case MSGPACK_OBJECT_MAP: return o->via.map.size;
  case MSGPACK_OBJECT_STR: return o->via.str.size;
  case MSGPACK_OBJECT_BIN: return o->via.bin.size;
  case MSGPACK_OBJECT_EXT: return o->via.ext.size;
  default: return 0;
  }
}

fi_val fi_arr_at(fi_val a, uint32_t i) {
  if (!a.o || OBJ(a)->type != MSGPACK_OBJECT_ARRAY || i >= OBJ(a)->via.array.size) return (fi_val){NULL};
  return (fi_val){&OBJ(a)->via.array.ptr[i]};
}
fi_val fi_map_key(fi_val m, uint32_t i) {
  if (!m.o || OBJ(m)->type != MSGPACK_OBJECT_MAP || i >= OBJ(m)->via.map.size) return (fi_val){NULL};
  return (fi_val){&OBJ(m)->via.map.ptr[i].key};
}
fi_val fi_map_value(fi_val m, uint32_t i) {
  if (!m.o || OBJ(m)->type != MSGPACK_OBJECT_MAP || i >= OBJ(m)->via.map.size) return (fi_val){NULL};
  return (fi_val){&OBJ(m)->via.map.ptr[i].val};
}

const char *fi_val_raw(fi_val v, uint32_t *len) {
  if (!v.o) return NULL;
  const msgpack_object *o = OBJ(v);
  if (o->type == MSGPACK_OBJECT_STR) {
    *len = o->via.str.size;
    return o->via.str.ptr;
  }
  if (o->type == MSGPACK_OBJECT_BIN) {
    *len = o->via.bin.size;
    return o->via.bin.ptr;
  }
  return NULL;
}

int fi_val_int(fi_val v, int64_t *out) { return v.o ? obj_int(OBJ(v), out) : -1; }
int fi_val_double(fi_val v, double *out) {
  if (!v.o) return -1;
  const msgpack_object *o = OBJ(v);
  int64_t i;
  if (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64) {
    *out = o->via.f64;
    return 0;
  }
  if (!obj_int(o, &i)) {
    *out = (double)i;
    return 0;
  }
  return -1;
}
int fi_val_bool(fi_val v, int *out) {
  if (!v.o || OBJ(v)->type != MSGPACK_OBJECT_BOOLEAN) return -1;
  *out = OBJ(v)->via.boolean;
  return 0;
}
int fi_val_tensor(fi_val v, fi_tensor *t, const char **why) {
  const char *w = v.o ? tensor_view(OBJ(v), t) : "missing";
  if (why) *why = w;
  return w ? -1 : 0;
}
int fi_val_is_tensor(fi_val v) { return v.o && OBJ(v)->type == MSGPACK_OBJECT_MAP && map_get(OBJ(v), "dtype"); }

/* ---- writer ---- */
struct fi_writer {
  int fd;
  fi_atomic *at;
  char *name;
  char *buf;
  size_t len, cap;
  msgpack_packer pk;
  /* for naming a refused non-finite value: the record and key being written */
  char id[96];
  int64_t nrec;
  const char *key;
  /* fi_wrecord: the fields go to rbuf and are counted, the map header and
   * id are written before them at fi_wrecord_end */
  int building, nfields;
  char *rid, *rbuf;
  size_t rlen, rcap;
};

static void wdirect(fi_writer *w, const char *p, size_t n) {
  if (fi_write_all(w->fd, p, n)) fi_die("writing %s: %s", w->name, strerror(errno));
}

static void wflush(fi_writer *w) {
  wdirect(w, w->buf, w->len);
  w->len = 0;
}

static int wcb(void *data, const char *p, size_t n) {
  fi_writer *w = data;
  if (n == 0) return 0; /* an empty tensor's body: p may be NULL (memcpy's argument must not be) */
  if (w->building) {
    if (w->rlen + n > w->rcap) {
      while (w->rlen + n > w->rcap) w->rcap = w->rcap ? 2 * w->rcap : 4096;
      w->rbuf = fi_realloc(w->rbuf, w->rcap);
    }
    memcpy(w->rbuf + w->rlen, p, n);
    w->rlen += n;
    return 0;
  }
  if (n >= (1 << 16)) { /* big payloads skip the copy */
    wflush(w);
    wdirect(w, p, n);
    return 0;
  }
  if (w->len + n > w->cap) wflush(w);
  memcpy(w->buf + w->len, p, n);
  w->len += n;
  return 0;
}

fi_writer *fi_writer_open(const char *path) {
  fi_writer *w = fi_calloc(1, sizeof *w);
  if (!path || !strcmp(path, "-")) {
    w->fd = 1;
    w->name = fi_strdup("standard output");
  } else {
    w->at = fi_atomic_begin(path);
    w->fd = fi_atomic_fd(w->at);
    w->name = fi_strdup(path);
  }
  w->cap = 1 << 20;
  w->buf = fi_malloc(w->cap);
  msgpack_packer_init(&w->pk, w, wcb);
  return w;
}

void fi_writer_close(fi_writer *w) {
  if (!w) return;
  wflush(w);
  if (w->at)
    fi_atomic_commit(w->at);
  else if (w->fd == 1 && (fflush(stdout) != 0 || ferror(stdout))) /* the tool may printf too */
    fi_die("writing %s: %s", w->name, strerror(errno));
  if (w->building) fi_die("internal: record '%s' begun and never ended", w->id);
  free(w->buf);
  free(w->rbuf);
  free(w->name);
  free(w);
}

static void pack_str(fi_writer *w, const char *s, size_t n) {
  msgpack_pack_str(&w->pk, n);
  msgpack_pack_str_body(&w->pk, s, n);
}

int fi_id_valid(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 4096) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f) return 0;
  return 1;
}

static void check_id(const char *id) {
  if (!fi_id_valid(id))
    fi_die("cannot write record id '%.80s': ids are 1 to 4096 bytes without whitespace or control characters", id);
}

void fi_wbegin(fi_writer *w, const char *id, int n) {
  check_id(id);
  snprintf(w->id, sizeof w->id, "%.80s", id);
  w->nrec++;
  msgpack_pack_map(&w->pk, (size_t)n + 1);
  pack_str(w, "id", 2);
  pack_str(w, id, strlen(id));
}
void fi_wend(fi_writer *w) { (void)w; }

void fi_wrecord(fi_writer *w, const char *id) {
  if (w->building) fi_die("internal: record '%.80s' begun inside record '%s'", id, w->id);
  check_id(id);
  snprintf(w->id, sizeof w->id, "%.80s", id);
  w->rid = fi_strdup(id);
  w->building = 1;
  w->nfields = 0;
  w->rlen = 0;
}
void fi_wrecord_end(fi_writer *w) {
  if (!w->building) fi_die("internal: record end without a record");
  w->building = 0;
  w->nrec++;
  msgpack_pack_map(&w->pk, (size_t)w->nfields + 1);
  pack_str(w, "id", 2);
  pack_str(w, w->rid, strlen(w->rid));
  wcb(w, w->rbuf, w->rlen);
  free(w->rid);
  w->rid = NULL;
}

/* A key: counted as a field of a fi_wrecord record (nested keys use
 * nested_key, and nested maps are refused there). */
static void nested_key(fi_writer *w, const char *key) {
  w->key = key;
  pack_str(w, key, strlen(key));
}
void fi_wkey(fi_writer *w, const char *key) {
  w->nfields += w->building;
  nested_key(w, key);
}
static void no_nesting(const fi_writer *w) {
  if (w->building) fi_die("internal: a nested map or array in counted record '%s'", w->id);
}
void fi_vmap_begin(fi_writer *w, int n) {
  no_nesting(w);
  w->id[0] = 0; /* a map without id (a model file) */
  msgpack_pack_map(&w->pk, (size_t)n);
}
void fi_vmap(fi_writer *w, int n) {
  no_nesting(w);
  msgpack_pack_map(&w->pk, (size_t)n);
}
void fi_varray(fi_writer *w, int n) {
  no_nesting(w);
  msgpack_pack_array(&w->pk, (size_t)n);
}
void fi_vstr(fi_writer *w, const char *s) { pack_str(w, s, strlen(s)); }
void fi_vint(fi_writer *w, int64_t v) { msgpack_pack_int64(&w->pk, v); }
/* Computed values must be finite (formats/stream.md): a NaN or Inf reaching
 * a writer is a non-finite intermediate, refused naming the record and
 * field. Pass-through tools copy values raw (fi_vcopy, fi_wcopy, fi_wraw). */
static _Noreturn void nonfinite(const fi_writer *w, int64_t elem, double v) {
  const char *what = isnan(v) ? "NaN" : "infinite", *key = w->key ? w->key : "?";
  if (w->id[0])
    fi_die("record '%s' (#%lld written): computed field '%s' element %lld is %s: refusing to write it "
           "(the inputs or the model's weights overflow float arithmetic)",
           w->id, (long long)w->nrec - 1, key, (long long)elem, what);
  fi_die("writing %s: computed field '%s' element %lld is %s: refusing to write it (the inputs or "
         "the model's weights overflow float arithmetic)",
         w->name, key, (long long)elem, what);
}
void fi_vdouble(fi_writer *w, double v) {
  if (!isfinite(v)) nonfinite(w, 0, v);
  msgpack_pack_double(&w->pk, v);
}
void fi_vnil(fi_writer *w) { msgpack_pack_nil(&w->pk); }
void fi_vbool(fi_writer *w, int v) {
  if (v) msgpack_pack_true(&w->pk);
  else msgpack_pack_false(&w->pk);
}
void fi_vbin(fi_writer *w, const void *data, size_t n) {
  msgpack_pack_bin(&w->pk, n);
  msgpack_pack_bin_body(&w->pk, data, n);
}
void fi_vcopy(fi_writer *w, fi_val v) { msgpack_pack_object(&w->pk, v.o ? *OBJ(v) : nil_obj); }

void fi_vtensor(fi_writer *w, fi_dtype dt, int ndim, const int64_t *shape, const void *data) {
  if (dt >= FI_NDTYPES || ndim < 0 || ndim > FI_MAX_NDIM) fi_die("internal: bad tensor for writing");
  uint64_t n = 1;
  msgpack_pack_map(&w->pk, 3);
  pack_str(w, "dtype", 5);
  pack_str(w, dtype_names[dt], strlen(dtype_names[dt]));
  pack_str(w, "shape", 5);
  msgpack_pack_array(&w->pk, (size_t)ndim);
  for (int i = 0; i < ndim; i++) {
    msgpack_pack_uint64(&w->pk, (uint64_t)shape[i]);
    n *= (uint64_t)shape[i];
  }
  if (dt == FI_F32 || dt == FI_F64)
    for (uint64_t i = 0; i < n; i++) {
      double x;
      if (dt == FI_F32) {
        float f;
        memcpy(&f, (const char *)data + 4 * i, 4);
        x = f;
      } else {
        memcpy(&x, (const char *)data + 8 * i, 8);
      }
      if (!isfinite(x)) nonfinite(w, (int64_t)i, x);
    }
  pack_str(w, "data", 4);
  fi_vbin(w, data, n * dtype_sizes[dt]);
}

void fi_wstr(fi_writer *w, const char *key, const char *s) { fi_wkey(w, key); fi_vstr(w, s); }
void fi_wint(fi_writer *w, const char *key, int64_t v) { fi_wkey(w, key); fi_vint(w, v); }
void fi_wdouble(fi_writer *w, const char *key, double v) { fi_wkey(w, key); fi_vdouble(w, v); }
void fi_wtensor(fi_writer *w, const char *key, fi_dtype dt, int ndim, const int64_t *shape, const void *data) {
  fi_wkey(w, key);
  fi_vtensor(w, dt, ndim, shape, data);
}
void fi_wf32(fi_writer *w, const char *key, const float *v, int64_t n) { fi_wtensor(w, key, FI_F32, 1, &n, v); }
void fi_wstrs(fi_writer *w, const char *key, const char *const *s, int64_t n) {
  fi_wkey(w, key);
  msgpack_pack_array(&w->pk, (size_t)n);
  for (int64_t i = 0; i < n; i++) fi_vstr(w, s[i]);
}
void fi_wscored(fi_writer *w, const char *key, const char *const *ids, const float *scores, int64_t n) {
  fi_wkey(w, key);
  msgpack_pack_array(&w->pk, (size_t)n);
  for (int64_t i = 0; i < n; i++) {
    msgpack_pack_map(&w->pk, 2);
    nested_key(w, "id");
    fi_vstr(w, ids[i]);
    nested_key(w, "score");
    fi_vdouble(w, scores[i]);
  }
}
void fi_wcopy(fi_writer *w, const char *key, const fi_record *rec, const char *srckey) {
  int i = find_field(rec, rec->nfields, srckey, strlen(srckey));
  if (i < 0) fi_rec_die(rec, "missing field '%s'", srckey);
  fi_wkey(w, key);
  wcb(w, (const char *)rec->f[i].v, rec->f[i].vlen); /* as read: no decoding, however large */
}
void fi_wraw(fi_writer *w, const fi_record *rec) { fi_wencoded(w, rec->bytes, rec->nbytes); }
void fi_wencoded(fi_writer *w, const void *bytes, size_t n) { wcb(w, bytes, n); }
