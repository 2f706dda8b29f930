/* stream_index.h - random access into a stream file (formats/stream-index.md).
 * A stream index lists, for every record of one stream file, where it
 * starts, how many bytes it has, their CRC-32, its id and its integer label:
 * with it a tool reads the few records it needs (LiSSA's draws, kNN
 * candidates) instead of the whole stream. It describes the file as it was
 * when indexed: opening checks the file's size and mtime (a mismatch is
 * "stale", the caller's choice what to do), and every record read through
 * it is checked against its CRC-32, size and id, so a file changed in
 * place is refused, never read as something else. */
#ifndef FI_STREAM_INDEX_H
#define FI_STREAM_INDEX_H
#include <stddef.h>
#include <stdint.h>

#include "stream.h"

typedef struct fi_sidx fi_sidx;

/* The sidecar index path of a stream file: STREAM.sidx (malloc'd). */
char *fi_sidx_default_path(const char *stream);

/* Index the regular file `stream` in one pass and write the index to `out`
 * (atomically). Dies on a bad stream, a duplicate id or a file that is not
 * a regular file. Returns the number of records. */
int64_t fi_sidx_build(const char *stream, const char *out);

typedef enum { FI_SIDX_OK = 0, FI_SIDX_ABSENT, FI_SIDX_STALE } fi_sidx_status;
/* Open `ixpath` (NULL: the sidecar) as the index of `stream`. ABSENT: no
 * such file; STALE: it describes another version of the stream (size or
 * mtime differ; why[] says which). A file that is not a stream index or is
 * corrupt dies, naming it. */
fi_sidx_status fi_sidx_open(const char *stream, const char *ixpath, fi_sidx **out, char *why,
                            size_t whylen);
void fi_sidx_close(fi_sidx *ix);

const char *fi_sidx_path(const fi_sidx *ix);      /* the index file */
const char *fi_sidx_stream(const fi_sidx *ix);    /* the stream it indexes */
int64_t fi_sidx_count(const fi_sidx *ix);
uint64_t fi_sidx_stream_bytes(const fi_sidx *ix);
const char *fi_sidx_id(const fi_sidx *ix, int64_t i);
int32_t fi_sidx_label(const fi_sidx *ix, int64_t i); /* -1: no integer label */
/* The record with this id, or -1. The first call builds the id table (not
 * thread-safe) and dies if the index repeats an id. */
int64_t fi_sidx_find(fi_sidx *ix, const char *id);

/* Records rows[0..n) of the stream (any order, repeats allowed): each(rec,
 * i, ctx) is called with record rows[i], in the order of rows, the record
 * valid during the call. Consecutive rows are read together; memory is a
 * bounded buffer whatever n is. A record whose bytes are not the ones
 * indexed dies naming it. Thread-safe: pread on the stream's descriptor,
 * a reader and buffer per call. */
typedef void (*fi_sidx_each)(const fi_record *rec, int64_t i, void *ctx);
void fi_sidx_read(const fi_sidx *ix, const int64_t *rows, int64_t n, fi_sidx_each each, void *ctx);

/* Read every record through the index (bounded memory), so that any
 * record not the one indexed dies naming it; returns the count. */
int64_t fi_sidx_check(const fi_sidx *ix);

#endif
