/* json_parse.c - JSON text -> the value tree of json_internal.h, which
 * json_pack.c encodes as msgpack (fi_json_parse, json.h). Strict: RFC 8259
 * with UTF-8 checked, nesting bounded before it can exhaust the stack. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"
#include "util.h"

/* A flat tree (preorder, reused across lines) rather than encoding while
 * parsing: a tensor's shape may come after its data. */

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

static void skip_ws(fi_json_parser *p) {
  while (p->i < p->n) {
    char c = p->s[p->i];
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') break;
    p->i++;
  }
}

static long new_node(fi_json_parser *p, int kind) {
  if (p->nn >= UINT32_MAX) return fi_json_fail(p, p->i, "too many values in one line");
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
  fi_jb_put(b, u, k);
}

/* p->i at the opening quote. Decodes into p->str. */
static long parse_string(fi_json_parser *p) {
  long id = new_node(p, J_STR);
  if (id < 0) return -1;
  size_t start = p->str.n;
  p->i++;
  for (;;) {
    if (p->i >= p->n) return fi_json_fail(p, p->i, "unterminated string");
    unsigned char c = (unsigned char)p->s[p->i];
    if (c == '"') {
      p->i++;
      break;
    }
    if (c < 0x20) return fi_json_fail(p, p->i, "control character 0x%02x in string (escape it)", c);
    if (c == '\\') {
      if (p->i + 1 >= p->n) return fi_json_fail(p, p->i, "unterminated string");
      char e = p->s[p->i + 1];
      const char *map = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
      const char *hit = strchr(map, e);
      if (e && hit) {
        fi_jb_c(&p->str, to[hit - map]);
        p->i += 2;
        continue;
      }
      if (e != 'u') return fi_json_fail(p, p->i, "invalid escape '\\%c'", e);
      unsigned cp;
      if (p->i + 6 > p->n || hex4(p->s + p->i + 2, &cp)) return fi_json_fail(p, p->i, "invalid \\u escape");
      size_t at = p->i;
      p->i += 6;
      if (cp >= 0xdc00 && cp <= 0xdfff) return fi_json_fail(p, at, "lone low surrogate \\u%04x", cp);
      if (cp >= 0xd800 && cp <= 0xdbff) {
        unsigned lo;
        if (p->i + 6 > p->n || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u' || hex4(p->s + p->i + 2, &lo) ||
            lo < 0xdc00 || lo > 0xdfff)
          return fi_json_fail(p, at, "high surrogate \\u%04x not followed by a low surrogate", cp);
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
    if (bad >= 0) return fi_json_fail(p, p->i + (size_t)bad, "invalid UTF-8 in string");
    fi_jb_put(&p->str, p->s + p->i, j - p->i);
    p->i = j;
  }
  size_t len = p->str.n - start;
  if (len > UINT32_MAX) return fi_json_fail(p, p->nodes[id].col, "string too long");
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
  if (i >= n || !is_digit(s[i])) return fi_json_fail(p, i, "invalid number");
  if (s[i] == '0') {
    i++;
    if (i < n && is_digit(s[i])) return fi_json_fail(p, i, "leading zero in number");
  } else {
    while (i < n && is_digit(s[i])) i++;
  }
  if (i < n && s[i] == '.') {
    isint = 0;
    i++;
    if (i >= n || !is_digit(s[i])) return fi_json_fail(p, i, "digit expected after '.'");
    while (i < n && is_digit(s[i])) i++;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    isint = 0;
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    if (i >= n || !is_digit(s[i])) return fi_json_fail(p, i, "digit expected in exponent");
    while (i < n && is_digit(s[i])) i++;
  }
  if (i - p->i > UINT32_MAX) return fi_json_fail(p, p->i, "number too long");
  p->nodes[id].off = p->i;
  p->nodes[id].len = (uint32_t)(i - p->i);
  p->nodes[id].isint = (uint8_t)isint;
  p->i = i;
  return id;
}

static long parse_value(fi_json_parser *p, int depth);

static long parse_container(fi_json_parser *p, int depth, int obj) {
  if (depth >= FI_JSON_MAX_DEPTH) return fi_json_fail(p, p->i, "nested deeper than %d levels", FI_JSON_MAX_DEPTH);
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
      if (p->i >= p->n || p->s[p->i] != '"') return fi_json_fail(p, p->i, "object key (a string) expected");
      long k = parse_string(p);
      if (k < 0) return -1;
      if (prev >= 0) p->nodes[prev].next = (uint32_t)k;
      skip_ws(p);
      if (p->i >= p->n || p->s[p->i] != ':') return fi_json_fail(p, p->i, "':' expected after object key");
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
    if (++count > UINT32_MAX) return fi_json_fail(p, p->i, "too many elements");
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == ',') {
      p->i++;
      continue;
    }
    if (p->i < p->n && p->s[p->i] == close) {
      p->i++;
      break;
    }
    return fi_json_fail(p, p->i, "',' or '%c' expected", close);
  }
  p->nodes[id].len = (uint32_t)count;
  return id;
}

static long parse_literal(fi_json_parser *p, const char *word, int kind) {
  size_t k = strlen(word);
  if (p->n - p->i < k || memcmp(p->s + p->i, word, k)) return fi_json_fail(p, p->i, "invalid literal (expected %s)", word);
  long id = new_node(p, kind);
  p->i += k;
  return id;
}

static long parse_value(fi_json_parser *p, int depth) {
  skip_ws(p);
  if (p->i >= p->n) return fi_json_fail(p, p->i, "value expected");
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
    if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f) return fi_json_fail(p, p->i, "unexpected '%c'", c);
    return fi_json_fail(p, p->i, "unexpected byte 0x%02x", (unsigned char)c);
  }
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
    if (p->i < p->n) fi_json_fail(p, p->i, "unexpected text after the value");
  }
  if (!p->failed) fi_json_pack(p, require_id);
  if (p->failed) {
    *col = p->errcol + 1;
    *why = p->err.msg;
    return NULL;
  }
  *nbytes = p->sb.size;
  return p->sb.data;
}
