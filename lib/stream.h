/* stream.h - msgpack tensor streams (formats/stream.md).
 * A stream is a concatenation of msgpack maps, one per record. The reader
 * keeps one record in memory at a time (constant memory for any stream
 * length, about twice the largest record), validates every record before
 * handing it out, and dies with the record index/id and byte offset on
 * truncation or corruption (naming the file's kind when it is not a stream). Tools use
 * only this API; msgpack stays inside lib/. */
#ifndef FI_STREAM_H
#define FI_STREAM_H
#include <stddef.h>
#include <stdint.h>

typedef enum { FI_F32 = 0, FI_F64, FI_I32, FI_I64, FI_U8, FI_NDTYPES } fi_dtype;
#define FI_MAX_NDIM 8

const char *fi_dtype_name(fi_dtype d);
size_t fi_dtype_size(fi_dtype d);

typedef struct {
  fi_dtype dtype;
  int ndim;
  int64_t shape[FI_MAX_NDIM];
  int64_t n;             /* number of elements */
  const void *data;      /* little-endian, row-major; may be unaligned */
  size_t nbytes;
} fi_tensor;

/* Largest record the reader accepts (bytes); FASTIF_MAX_RECORD_MB overrides. */
size_t fi_max_record_bytes(void);

/* A read-only view of any msgpack value inside a record (lib-internal). */
typedef struct { const void *o; } fi_val;   /* wraps a const msgpack_object* */

/* ---- reading ---- */
typedef struct fi_reader fi_reader;
typedef struct fi_record fi_record;

/* path NULL or "-" = stdin (once per run: fi_open_input). Dies if the file
 * cannot be opened, is a directory, or standard input is closed. */
fi_reader *fi_reader_open(const char *path);
/* Next record, or NULL at a clean end of stream. The record and everything
 * obtained from it stay valid until the next fi_read/fi_reader_close. */
const fi_record *fi_read(fi_reader *r);
void fi_reader_close(fi_reader *r);
const char *fi_reader_name(const fi_reader *r);
/* Back to where the input stood when r was opened (standard input
 * included, wherever its offset was), for a second pass over a regular
 * file; records are numbered from 0 again. 0, or -1 when it cannot seek. */
int fi_reader_rewind(fi_reader *r);
/* A reader over bytes already in memory (records read at random through a
 * stream index, lib/stream_index.h): fi_reader_set_bytes hands it
 * bytes[0..n), the records found at stream offset `offset` of the stream
 * `name`, the first of them record number `index`, so its errors name the
 * stream's record and byte. The bytes stay the caller's and must outlive
 * the records read from them; set_bytes again to reuse the reader. */
fi_reader *fi_reader_open_bytes(const char *name);
void fi_reader_set_bytes(fi_reader *r, const void *bytes, size_t n, uint64_t offset, int64_t index);
/* Read a whole file that holds exactly one map (model files). */
const fi_record *fi_read_single(fi_reader *r, const char *what);
/* For inputs that may not be streams (lists of ids), before the first
 * record: the first byte without consuming it (-1 at the end of input), and
 * the input as raw chunks (*p valid until the next call; 0 at the end). */
int fi_reader_peek(fi_reader *r);
size_t fi_reader_chunk(fi_reader *r, const unsigned char **p);

const char *fi_rec_id(const fi_record *rec);      /* validated, NUL-terminated */
int64_t fi_rec_index(const fi_record *rec);       /* 0-based in its stream */
uint64_t fi_rec_offset(const fi_record *rec);     /* its first byte's offset in the stream */
size_t fi_rec_nbytes(const fi_record *rec);       /* encoded size */
const void *fi_rec_bytes(const fi_record *rec);   /* the encoded record */
int fi_rec_has(const fi_record *rec, const char *key);
int fi_rec_nfields(const fi_record *rec);
const char *fi_rec_key_at(const fi_record *rec, int i); /* NUL-terminated */

/* Die with "TOOL: error: record 'ID' (#N): ..." (exit 1). */
_Noreturn void fi_rec_die(const fi_record *rec, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Typed field access. Missing field: required -> die, else return 0 / def.
 * Wrong type -> die naming the record and field. */
int fi_rec_int(const fi_record *rec, const char *key, int64_t *out, int required);
int fi_rec_double(const fi_record *rec, const char *key, double *out, int required);
/* NUL-terminated copy valid until the next read; len may be NULL. */
const char *fi_rec_str(const fi_record *rec, const char *key, size_t *len, int required);
/* Array of strings; returns count, *out valid until the next read. */
int64_t fi_rec_strs(const fi_record *rec, const char *key, const char ***out, int required);
int fi_rec_tensor(const fi_record *rec, const char *key, fi_tensor *t, int required);
/* A float vector view of a tensor field of any float/int dtype, converted
 * and aligned as needed (copy only when needed). Checks element count
 * against `expect` when expect >= 0, and rejects NaN/Inf. Returns element
 * count; NULL *out when missing. */
int64_t fi_rec_f32(const fi_record *rec, const char *key, int64_t expect,
                   const float **out, int required);
int64_t fi_rec_i32(const fi_record *rec, const char *key, const int32_t **out, int required);
/* Array of {"id": str, "score": num} maps (ranked records). */
int64_t fi_rec_scored(const fi_record *rec, const char *key, const char ***ids,
                      const float **scores, int required);

/* 1 if s can be a record id: non-empty, at most 4096 bytes, no whitespace
 * or control characters (what the reader accepts). */
int fi_id_valid(const char *s);

/* ---- writing ---- */
typedef struct fi_writer fi_writer;
/* path NULL or "-" = stdout; a named file is written atomically
 * (temp + rename at fi_writer_close). */
fi_writer *fi_writer_open(const char *path);
/* Flush, check for write errors, commit; dies on any error. */
void fi_writer_close(fi_writer *w);

/* A record: fi_wbegin(w, id, n) then exactly n more fields, then fi_wend. */
void fi_wbegin(fi_writer *w, const char *id, int nfields_after_id);
void fi_wend(fi_writer *w);
/* A record whose fields are counted as they are written (for records whose
 * fields depend on settings): fi_wrecord(w, id), any fi_w* field calls
 * (no nested fi_vmap/fi_varray), then fi_wrecord_end(w) writes the map
 * header, the id and the fields: the same bytes as fi_wbegin with the
 * right count. The fields are held in memory until then. */
void fi_wrecord(fi_writer *w, const char *id);
void fi_wrecord_end(fi_writer *w);
void fi_wstr(fi_writer *w, const char *key, const char *s);
void fi_wint(fi_writer *w, const char *key, int64_t v);
void fi_wdouble(fi_writer *w, const char *key, double v);
void fi_wtensor(fi_writer *w, const char *key, fi_dtype dt, int ndim,
                const int64_t *shape, const void *data);
void fi_wf32(fi_writer *w, const char *key, const float *v, int64_t n); /* 1-D */
void fi_wstrs(fi_writer *w, const char *key, const char *const *s, int64_t n);
void fi_wscored(fi_writer *w, const char *key, const char *const *ids,
                const float *scores, int64_t n);
/* Copy field `srckey` of `rec` as field `key` (any msgpack value, its
 * encoding verbatim, as fi_wraw copies a record). */
void fi_wcopy(fi_writer *w, const char *key, const fi_record *rec, const char *srckey);
/* Write an already-encoded record verbatim (pass-through). */
void fi_wraw(fi_writer *w, const fi_record *rec);
/* ... or a record encoded elsewhere: bytes[0..n) holding one map (the
 * encoder of dump --reverse). */
void fi_wencoded(fi_writer *w, const void *bytes, size_t n);

/* Nested values (model files): fi_wkey then one value. */
void fi_wkey(fi_writer *w, const char *key);
void fi_vmap(fi_writer *w, int n);
void fi_varray(fi_writer *w, int n);
void fi_vstr(fi_writer *w, const char *s);
void fi_vint(fi_writer *w, int64_t v);
void fi_vdouble(fi_writer *w, double v);
void fi_vtensor(fi_writer *w, fi_dtype dt, int ndim, const int64_t *shape, const void *data);
void fi_vbool(fi_writer *w, int v);
void fi_vnil(fi_writer *w);
void fi_vbin(fi_writer *w, const void *data, size_t n);
void fi_vcopy(fi_writer *w, fi_val v);                     /* any value */
void fi_vmap_begin(fi_writer *w, int n); /* a top-level map without id */

/* ---- generic values (lib-internal users: model loader, json) ---- */
typedef enum { FI_V_NONE = 0, FI_V_NIL, FI_V_BOOL, FI_V_INT, FI_V_FLOAT,
               FI_V_STR, FI_V_BIN, FI_V_ARRAY, FI_V_MAP, FI_V_EXT } fi_vkind;
fi_val fi_rec_root(const fi_record *rec);
fi_val fi_rec_get(const fi_record *rec, const char *key);
fi_vkind fi_val_kind(fi_val v);
fi_val fi_map_get(fi_val m, const char *key);
uint32_t fi_val_len(fi_val v);              /* array/map element count, str/bin bytes */
fi_val fi_arr_at(fi_val a, uint32_t i);
fi_val fi_map_key(fi_val m, uint32_t i);
fi_val fi_map_value(fi_val m, uint32_t i);
const char *fi_val_raw(fi_val v, uint32_t *len); /* str/bin bytes (not NUL-terminated) */
int fi_val_int(fi_val v, int64_t *out);     /* 0 ok; also accepts integral floats */
int fi_val_double(fi_val v, double *out);   /* 0 ok; ints convert */
int fi_val_bool(fi_val v, int *out);
/* A tensor map {"dtype","shape","data"}; returns 0 ok, or -1 with *why. */
int fi_val_tensor(fi_val v, fi_tensor *t, const char **why);
int fi_val_is_tensor(fi_val v);

#endif
