/* example_index.h - training examples read through a stream index
 * (stream_index.h) when one is usable, else from the whole stream: the
 * one way ihvp and influence open --train (formats/stream-index.md). */
#ifndef FI_EXAMPLE_INDEX_H
#define FI_EXAMPLE_INDEX_H
#include <stdint.h>

#include "model.h"
#include "strset.h"

/* The tools' help text for the option that sets index / no_index. */
#define FI_TRAIN_INDEX_HELP "the training stream's index (stream-index, formats/stream-index.md): auto = " \
  "TRAIN.sidx when it is there and current (a stale one is reported and ignored), none = read the whole " \
  "stream, or the index file; through it only the rows used are read, the results are the same"

typedef struct {
  const char *index; /* the index file; NULL: the stream's sidecar (STREAM.sidx), when there and current */
  int no_index;      /* read the whole stream even when an index is there */
  int rows_in_file;  /* reading the whole stream: its dense rows in a temp file (fi_examples_to_file) */
  int need_label;
} fi_train_opts;

/* The index file an option's value names: NULL for "auto" and "none". */
const char *fi_train_index_path(const char *value);

/* How the examples were opened (for the caller's log and advice). */
typedef enum {
  FI_TRAIN_READ = 0,   /* the whole stream was read; no index there */
  FI_TRAIN_STALE,      /* ... because the sidecar is stale (why[] says how) */
  FI_TRAIN_NOT_FILE,   /* ... because the stream is not a regular file */
  FI_TRAIN_MODEL,      /* ... because the model's inputs are text (bow), decoded once up front */
  FI_TRAIN_INDEXED,    /* through the index: only the rows used are read */
} fi_train_how;

/* The examples of `path` for model m: with `only`, just those whose ids
 * are in it, in stream order (*nread: the stream's records); without, all
 * of them. Through the index of opts->index or the sidecar when usable: a
 * dense model's rows are then decoded from the stream when a batch uses
 * them (every record read is checked against the index). An explicit
 * index that is missing or stale dies; a stale sidecar is reported in
 * *how and why[] and the stream is read whole. */
fi_examples *fi_examples_open_train(const fi_model *m, const char *path, const fi_train_opts *opts,
                                    const fi_strset *only, int64_t *nread, fi_train_how *how,
                                    char *why, size_t whylen);

#endif
