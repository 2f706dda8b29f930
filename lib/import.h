/* import.h - what the import-* tools share: the CSV row loop (label ->
 * class index mapping, record id checks: non-empty, no whitespace, unique
 * in the stream), name lists and strict number parsing for feature cells.
 * formats/examples.md documents the rules these implement. */
#ifndef FI_IMPORT_H
#define FI_IMPORT_H
#include <stddef.h>
#include <stdint.h>

#include "csv.h"
#include "stream.h"
#include "util.h"

/* ---- lists ---- */
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

/* ---- CSV rows as examples (import-csv, import-text) ----
 * The row loop both importers share: the header, the label, id, group and
 * where columns, the class numbering, id checks (valid, unique, from a
 * column or generated) and UTF-8; the caller adds its own field (x, text).
 *
 * Labels, in three modes:
 *  fixed   (classes "a,b,c"): a cell equal to a name gets that name's index;
 *          else a cell holding an integer 0..C-1 is that index (so numeric
 *          labels can be given names); anything else is an error.
 *  numeric (no classes, the first label cell is a non-negative integer):
 *          every cell must be a non-negative integer; it is the label and
 *          no label_name is written.
 *  names   (no classes, first cell not an integer): classes are numbered
 *          in order of first appearance over the input, label_name = cell.
 * Without fixed classes every row is mapped, also those `where` drops, so
 * separate imports of the splits of one file number the classes alike. */
typedef struct {
  const char *label;     /* label column (header name or 1-based number) */
  const char *id;        /* id column, or NULL: ids are id_prefix + the data row number */
  const char *id_prefix;
  const char *group;     /* column copied to "group", or NULL */
  const char *where;     /* "COL=VALUE": keep rows whose COL is VALUE, or NULL */
  const char *classes;   /* "a,b,c", or NULL */
  size_t max_row;        /* longest row accepted (bytes) */
} fi_import_opts;

typedef struct fi_import fi_import;
/* Opens path (NULL or "-": standard input) and reads its header. A
 * setting that does not fit returns NULL with e (setting "label", "id",
 * "group", "where" or "classes"); a file that cannot be read dies. */
fi_import *fi_import_open(const char *path, const fi_import_opts *o, fi_err *e);
void fi_import_close(fi_import *im);
const fi_csv *fi_import_csv(const fi_import *im);
/* Column index of spec (header name or 1-based number), or -1 with e
 * (FI_ERR_DATA, naming `setting` and listing the header's columns). */
int fi_import_column(const fi_import *im, const char *setting, const char *spec, fi_err *e);
/* Is column j one that the options above take (label, id, group, where)? */
int fi_import_uses_column(const fi_import *im, int j);

typedef struct {
  const char *id;          /* valid until the next row */
  int64_t label;
  const char *label_name;  /* NULL for numeric labels */
  const char *group;       /* NULL without a group column */
} fi_import_row;
/* The next row that `where` keeps, checked. Returns 1, or 0 at the end;
 * dies naming the line and record on bad input. */
int fi_import_next(fi_import *im, fi_import_row *row);
/* An examples record (formats/examples.md): fi_import_wbegin writes id and
 * label and declares `nmine` fields of the caller's to follow, then
 * fi_import_wend writes label_name and group. */
void fi_import_wbegin(fi_writer *w, const fi_import_row *row, int nmine);
void fi_import_wend(fi_writer *w, const fi_import_row *row);
/* Dies with "FILE:LINE: record 'ID': what" (exit 1). */
_Noreturn void fi_import_die(const fi_import *im, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "great=0 other=1" (or "numeric labels") for the log; valid until the next call. */
const char *fi_import_classes(fi_import *im);

#endif
