/* json.h - the JSON-lines text form of tensor streams (formats/stream.md,
 * "JSON lines"). One record is one line holding one JSON object:
 *   tensors          {"dtype":"f32","shape":[2,3],"data":[[..],[..]]}
 *   bin (not tensor) {"$bin":"<base64>"}
 *   non-finite float {"$float":"NaN"|"-NaN"|"Infinity"|"-Infinity"|"NaN:0x<bits>"}
 * and everything else as plain JSON. The reverse turns a line back into the
 * canonical (smallest) msgpack encoding, which fi_wencoded (stream.h) writes
 * as it is, so stream -> JSON -> stream is byte-identical for streams
 * written by fastif or Python's msgpack. lib/json_write.c writes JSON,
 * json_parse.c and json_pack.c read it, json_lines.c reads files of it. */
#ifndef FI_JSON_H
#define FI_JSON_H
#include <stddef.h>
#include <stdint.h>

#include "stream.h"

/* A growable byte buffer, reused across records (no per-record malloc once
 * it has grown to the largest record). */
typedef struct {
  char *p;
  size_t n, cap;
} fi_jbuf;
void fi_jbuf_free(fi_jbuf *b);

/* Nesting limits. JSON text deeper than FI_JSON_MAX_DEPTH is rejected before
 * it can exhaust the stack; the msgpack value it encodes may nest at most
 * FI_JSON_MAX_MSGPACK_DEPTH containers (a tensor counts as one), which is
 * what the msgpack-c reader accepts. */
#define FI_JSON_MAX_DEPTH 64
#define FI_JSON_MAX_MSGPACK_DEPTH 32

/* Append the JSON line of a record (ending in '\n') to out. Dies with
 * fi_rec_die on values JSON cannot carry exactly: ext types, non-string map
 * keys, strings that are not valid UTF-8, maps that would read back as
 * something else (a single "$bin" or "$float" key). */
void fi_json_record(const fi_record *rec, fi_jbuf *out);

/* JSON text -> msgpack. */
typedef struct fi_json_parser fi_json_parser;
fi_json_parser *fi_json_parser_new(void);
void fi_json_parser_free(fi_json_parser *p);
/* Parse one JSON value from text[0..len) (surrounding whitespace allowed,
 * nothing else) and encode it. With require_id the value must be an object
 * with an "id" (a non-empty string, at most 4096 bytes, without whitespace
 * or control characters); without it, a top-level "id" still must obey
 * those rules. Any object with a "dtype" key must be a tensor. Returns the
 * encoding (valid until the next call) and its size, or NULL with the
 * 1-based byte column of the problem in *col and a message in *why (valid
 * until the next call). */
const void *fi_json_parse(fi_json_parser *p, const char *text, size_t len,
                          int require_id, size_t *nbytes, size_t *col,
                          const char **why);

/* A JSON-lines file: one record per line, blank lines skipped. */
typedef struct fi_jlines fi_jlines;
fi_jlines *fi_jlines_open(const char *path); /* NULL or "-" = stdin; dies on failure */
/* The msgpack encoding of the next record, or NULL at end of input. Dies
 * with "NAME: line L, column C: what" on malformed input. */
const void *fi_jlines_next(fi_jlines *j, int require_id, size_t *nbytes);
int64_t fi_jlines_lineno(const fi_jlines *j);
void fi_jlines_close(fi_jlines *j);

#endif
