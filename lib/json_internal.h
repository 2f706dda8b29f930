/* json_internal.h - what the JSON-lines files of lib/ share (not for
 * tools): byte buffers, the text of non-finite floats, the base64
 * alphabet and the parser's error record (json_common.c), and the value tree that json_parse.c builds
 * from a line and json_pack.c encodes as msgpack. */
#ifndef FI_JSON_INTERNAL_H
#define FI_JSON_INTERNAL_H
#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "util.h"

void fi_jb_reserve(fi_jbuf *b, size_t more);
void fi_jb_put(fi_jbuf *b, const void *s, size_t n);
void fi_jb_c(fi_jbuf *b, char c);
void fi_jb_s(fi_jbuf *b, const char *s);

extern const char fi_json_b64[]; /* the standard base64 alphabet */

/* Non-finite float bits (width 32 or 64) as text: "Infinity", "-Infinity",
 * "NaN", "-NaN" (the quiet NaNs) or "NaN:0x<bits>"; and back: 0, or -1 when
 * s[0..n) is none of those for that width (or not a NaN's bits). */
void fi_json_nonfinite_text(char *buf, size_t cap, uint64_t bits, int width);
int fi_json_nonfinite_parse(const char *s, size_t n, int width, uint64_t *out);

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
  fi_err err;       /* the first error: its message */
  size_t errcol;
  int failed;
};

/* Record the first error of a parse (at = byte offset); returns -1. */
int fi_json_fail(fi_json_parser *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Encode the parsed tree (node 0) into p->pk, applying the stream's rules
 * for a record's top level; 0, or -1 with the error recorded. */
int fi_json_pack(fi_json_parser *p, int require_id);

#endif
