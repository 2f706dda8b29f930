/* join.h - attaching example fields to ids (rank --join / --query).
 * Example, test and prediction streams describe records by id; a report
 * about scores shows, next to each id, its label, class name, text and the
 * model's prediction. A join reads those fields from one or more streams
 * into memory, keyed by id; several files may describe the same ids
 * (examples and predictions): later files only fill in what is missing. */
#ifndef FI_JOIN_H
#define FI_JOIN_H
#include <stdint.h>

#include "stream.h"
#include "strset.h"

/* The fields attached to one id. */
typedef struct {
  int64_t label, pred;                  /* -1 = none */
  char *label_name, *pred_name, *text;  /* NULL = none */
} fi_join_fields;

typedef struct fi_join fi_join;
fi_join *fi_join_new(void);
void fi_join_free(fi_join *j);
/* Read "label", "pred", "label_name", "pred_name" and "text" of every
 * record of the stream at path (all optional) whose id is in want (want
 * NULL: every record). Dies on an id repeated within this file. Returns
 * the number of the file's records with a wanted id: 0 means the file
 * describes other ids altogether (e.g. test examples given for training
 * ones). */
int64_t fi_join_load(fi_join *j, const char *path, const fi_strset *want);
/* fi_join_load for each file of a comma-separated list, in order. Returns
 * NULL, or the first file with no wanted id (valid while j lives). */
const char *fi_join_load_list(fi_join *j, const char *paths, const fi_strset *want);
/* The same, also calling each(rec, ctx) for every record with a wanted id
 * (after its fields are taken): for callers that keep more of a record,
 * such as an image (lib/picture.c). */
typedef void fi_join_each(const fi_record *rec, void *ctx);
int64_t fi_join_load_each(fi_join *j, const char *path, const fi_strset *want,
                          fi_join_each *each, void *ctx);
const char *fi_join_load_list_each(fi_join *j, const char *paths, const fi_strset *want,
                                   fi_join_each *each, void *ctx);
/* The fields of id, or NULL when no loaded file has it (j may be NULL). */
const fi_join_fields *fi_join_find(const fi_join *j, const char *id);

#endif
