/* csv.h - streaming RFC 4180 CSV reader.
 * Quoted fields may hold commas, "" (one quote) and CR/LF line breaks; rows
 * end in LF, CRLF or a lone CR; a leading UTF-8 byte-order mark is dropped
 * and completely empty lines are skipped. Input is read through zlib, so a
 * gzip-compressed file (or stdin) is decompressed transparently. Memory is
 * one row: a row longer than the limit is an error, never a silent
 * truncation. Every error names the input and its line number. */
#ifndef FI_CSV_H
#define FI_CSV_H
#include <stddef.h>
#include <stdio.h>

typedef struct fi_csv fi_csv;

#define FI_CSV_MAX_ROW_DEFAULT ((size_t)4 << 20) /* bytes of field text per row */
#define FI_CSV_MAX_FIELDS 100000

/* path NULL or "-" = stdin. Returns NULL and fills err if it cannot open. */
fi_csv *fi_csv_open(const char *path, char *err, size_t errlen);
/* Reads from an open FILE (its descriptor is duplicated; the FILE stays the
 * caller's and must not have buffered unread data). name is for messages. */
fi_csv *fi_csv_fopen(FILE *f, const char *name, char *err, size_t errlen);
void fi_csv_close(fi_csv *c);
void fi_csv_set_max_row(fi_csv *c, size_t bytes);

/* Reads the next row. Returns 1 with a row, 0 at end of input, -1 on error
 * (fi_csv_error() then says what, as "NAME:LINE: what"; the reader stays in
 * the error state). Once a header has been read with fi_csv_header(), every
 * row must have as many fields as the header ("ragged row" otherwise). */
int fi_csv_next(fi_csv *c);
/* Reads the first row as the header (column names). Same returns. An empty
 * input is an error here ("no header row"), and so is a column name that
 * appears twice (naming both columns). */
int fi_csv_header(fi_csv *c);

int fi_csv_nfields(const fi_csv *c);
/* Field i of the current row, NUL-terminated; len (may be NULL) gets its
 * length. A field with an embedded NUL byte is rejected while parsing. */
const char *fi_csv_field(const fi_csv *c, int i, size_t *len);
long fi_csv_line(const fi_csv *c);   /* line where the current row starts (1-based) */
long fi_csv_row(const fi_csv *c);    /* data rows read so far, header excluded */
const char *fi_csv_name(const fi_csv *c);
const char *fi_csv_error(const fi_csv *c);

/* Header lookups (after fi_csv_header). */
int fi_csv_ncolumns(const fi_csv *c);
const char *fi_csv_column_name(const fi_csv *c, int i);
/* Column index for a header name (names are unique); else, if spec is a
 * number 1..ncolumns, that (1-based) column; else -1. Without a header only
 * numbers work. */
int fi_csv_column(const fi_csv *c, const char *spec);

#endif
