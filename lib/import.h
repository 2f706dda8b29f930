/* import.h - what the import-* tools share: label -> class index mapping,
 * record id checks (non-empty, no whitespace, unique in the stream), and
 * strict number parsing for feature cells. formats/examples.md documents
 * the rules these implement. */
#ifndef FI_IMPORT_H
#define FI_IMPORT_H
#include <stddef.h>
#include <stdint.h>

#include "csv.h"
#include "strset.h"

/* ---- labels ----
 * Three modes:
 *  fixed   (--classes a,b,c): a cell equal to a name gets that name's index;
 *          else a cell holding an integer 0..C-1 is that index (so numeric
 *          labels can be given names); anything else is an error.
 *  numeric (no --classes, the first label cell is a non-negative integer):
 *          every cell must be a non-negative integer; it is the label and
 *          no label_name is written.
 *  names   (no --classes, first cell not an integer): classes are numbered
 *          in order of first appearance over the input, label_name = cell. */
typedef struct fi_labels fi_labels;
/* classes: "a,b,c" or NULL. Returns NULL and fills err on a bad list. */
fi_labels *fi_labels_new(const char *classes, char *err, size_t errlen);
void fi_labels_free(fi_labels *L);
/* Maps a label cell. Returns 0 with *label and *name (NULL in numeric
 * mode; valid while L lives), or -1 with *why (a static or L-owned text). */
int fi_labels_map(fi_labels *L, const char *cell, int64_t *label, const char **name,
                  const char **why);
int fi_labels_count(const fi_labels *L);         /* classes known so far */
const char *fi_labels_name(const fi_labels *L, int i);
int fi_labels_numeric(const fi_labels *L);       /* numeric mode decided */
/* "great=0 other=1" (or "numeric") for the log; valid until the next call. */
const char *fi_labels_describe(fi_labels *L);

/* Parses "a,b,c" into names (each non-empty, no duplicates). Returns the
 * count, or -1 with err filled. *names and its strings are one allocation:
 * free(*names). */
int fi_split_list(const char *list, char ***names, char *err, size_t errlen);

/* ---- ids ---- */
/* NULL if s is a valid record id, else why not. */
const char *fi_id_problem(const char *s);

/* ---- numbers ---- */
/* Whole cell as a finite float (surrounding blanks allowed); 0 ok, -1 not. */
int fi_parse_f32_cell(const char *s, float *out);

/* ---- CSV rows as records (import-csv, import-text) ---- */
/* Column index for option --opt's value (header name or 1-based number);
 * dies listing the header's columns when there is no such column. */
int fi_import_column(const fi_csv *c, const char *opt, const char *spec);
/* Dies with "FILE:LINE: record 'ID': what" (exit 1). */
_Noreturn void fi_import_die(const fi_csv *c, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The current row's id: the idcol cell (checked), or, when idcol < 0,
 * PREFIX followed by the 1-based data row number, which does not depend
 * on any row filter. Valid until the next call. */
const char *fi_import_id(const fi_csv *c, int idcol, const char *prefix);
/* Dies naming the record and column unless every cell of the current row
 * is valid UTF-8 (msgpack strings must be; Python's reader rejects others). */
void fi_import_check_utf8(const fi_csv *c, const char *id);
/* Ids seen so far, to reject a duplicate naming both lines. */
typedef struct {
  fi_strset *ids;
  long *line;
  int64_t cap;
} fi_idclaim;
void fi_idclaim_init(fi_idclaim *ic);
void fi_idclaim_free(fi_idclaim *ic);
/* Records id as used on the current line; dies if it was used before. */
void fi_import_claim(const fi_csv *c, fi_idclaim *ic, const char *id);

/* --where COL=VALUE: keep rows whose column COL equals VALUE exactly. */
typedef struct {
  int col;           /* -1: no filter */
  const char *value;
  char *name;
} fi_where;
void fi_where_init(fi_where *wh, const fi_csv *c, const char *spec); /* spec may be NULL */
int fi_where_keep(const fi_where *wh, const fi_csv *c);
void fi_where_free(fi_where *wh);

#endif
