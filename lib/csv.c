/* csv.c - streaming RFC 4180 CSV reader (see csv.h). A byte-at-a-time state
 * machine over a 128 KiB zlib read buffer: simple enough to audit, and
 * plenty fast (the parse is far cheaper than what the tools do per row). */
#include "csv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "strset.h"
#include "util.h"

#define INBUF (128 * 1024)

struct fi_csv {
  gzFile gz;
  char *name;
  unsigned char *in;
  size_t inpos, inlen;
  int at_eof;            /* the input is exhausted */
  int pushback;          /* one byte of look-ahead, -1 if none */
  int started;           /* BOM check done */
  long line;             /* current input line, 1-based */
  long row_line;         /* line the current row started on */
  long nrows;            /* data rows returned */
  int header_pending;    /* the next row is the header */
  /* current row: field texts back to back, each NUL-terminated */
  char *buf;
  size_t cap, used, text;
  size_t *off;
  int nf, capf;
  int expect;            /* fields per row, fixed by the first row; 0 = unknown */
  size_t max_row;
  /* header */
  char *hbuf;
  size_t *hoff;
  int nh;
  int failed;
  char err[512];
};

static void set_err(fi_csv *c, long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(fi_csv *c, long line, const char *fmt, ...) {
  if (c->failed) return; /* keep the first (root-cause) message */
  c->failed = 1;
  int n = snprintf(c->err, sizeof c->err, "%s:%ld: ", c->name, line);
  if (n < 0 || (size_t)n >= sizeof c->err) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err + n, sizeof c->err - (size_t)n, fmt, ap);
  va_end(ap);
}

static fi_csv *csv_new(gzFile gz, const char *name) {
  fi_csv *c = fi_calloc(1, sizeof *c);
  c->gz = gz;
  c->name = fi_strdup(name);
  c->in = fi_malloc(INBUF);
  c->pushback = -1;
  c->line = 1;
  c->max_row = FI_CSV_MAX_ROW_DEFAULT;
  c->cap = 4096;
  c->buf = fi_malloc(c->cap);
  c->capf = 64;
  c->off = fi_malloc(sizeof *c->off * (size_t)c->capf);
  gzbuffer(gz, INBUF);
  return c;
}

fi_csv *fi_csv_open(const char *path, char *err, size_t errlen) {
  int stdin_ = !path || !strcmp(path, "-");
  gzFile gz;
  if (stdin_) {
    int fd = dup(0);
    gz = fd < 0 ? NULL : gzdopen(fd, "rb");
    if (!gz && fd >= 0) close(fd);
  } else {
    gz = gzopen(path, "rb");
  }
  if (!gz) {
    snprintf(err, errlen, "cannot open %s: %s", stdin_ ? "stdin" : path,
             errno ? strerror(errno) : "out of memory");
    return NULL;
  }
  return csv_new(gz, stdin_ ? "stdin" : path);
}

fi_csv *fi_csv_fopen(FILE *f, const char *name, char *err, size_t errlen) {
  int fd = dup(fileno(f));
  gzFile gz = fd < 0 ? NULL : gzdopen(fd, "rb");
  if (!gz) {
    if (fd >= 0) close(fd);
    snprintf(err, errlen, "cannot read %s: %s", name, strerror(errno));
    return NULL;
  }
  return csv_new(gz, name);
}

void fi_csv_close(fi_csv *c) {
  if (!c) return;
  gzclose(c->gz);
  free(c->name);
  free(c->in);
  free(c->buf);
  free(c->off);
  free(c->hbuf);
  free(c->hoff);
  free(c);
}

void fi_csv_set_max_row(fi_csv *c, size_t bytes) { c->max_row = bytes ? bytes : 1; }

/* Next input byte, or -1 at end of input or on a read error (which sets
 * the error state: a corrupt or truncated .gz must not look like EOF). */
static int get(fi_csv *c) {
  if (c->pushback >= 0) {
    int ch = c->pushback;
    c->pushback = -1;
    return ch;
  }
  if (c->inpos == c->inlen) {
    if (c->at_eof) return -1;
    int n = gzread(c->gz, c->in, INBUF);
    int errnum = Z_OK;
    const char *msg = gzerror(c->gz, &errnum);
    if (n < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) {
      set_err(c, c->line, "read error: %s",
              errnum == Z_ERRNO ? strerror(errno) : msg);
      c->at_eof = 1;
      return -1;
    }
    if (n == 0) {
      c->at_eof = 1;
      return -1;
    }
    c->inpos = 0;
    c->inlen = (size_t)n;
  }
  return c->in[c->inpos++];
}

/* Append one byte of field text; 0 if the row would exceed the limit. */
static int put(fi_csv *c, int ch) {
  if (c->text >= c->max_row) {
    set_err(c, c->row_line, "row longer than %zu bytes (a missing closing quote?)",
            c->max_row);
    return 0;
  }
  if (c->used + 1 >= c->cap) {
    c->cap *= 2;
    c->buf = fi_realloc(c->buf, c->cap);
  }
  c->buf[c->used++] = (char)ch;
  c->text++;
  return 1;
}

static int begin_field(fi_csv *c) {
  if (c->nf == FI_CSV_MAX_FIELDS) {
    set_err(c, c->row_line, "more than %d fields in a row", FI_CSV_MAX_FIELDS);
    return 0;
  }
  if (c->nf == c->capf) {
    c->capf *= 2;
    c->off = fi_realloc(c->off, sizeof *c->off * (size_t)c->capf);
  }
  c->off[c->nf] = c->used;
  return 1;
}

static void end_field(fi_csv *c) {
  if (c->used + 1 >= c->cap) {
    c->cap *= 2;
    c->buf = fi_realloc(c->buf, c->cap);
  }
  c->buf[c->used++] = '\0';
  c->nf++;
}

/* After a CR: swallow the LF of a CRLF pair. */
static void eat_lf(fi_csv *c) {
  int ch = get(c);
  if (ch != '\n' && ch >= 0) c->pushback = ch;
}

static int parse_row(fi_csv *c) {
  int ch;
  if (!c->started) {
    c->started = 1;
    /* A UTF-8 BOM (spreadsheet exports) is not part of the first name.
     * The first refill holds the whole start of the input (gzread fills
     * its buffer unless the input ends), so look at it there. */
    ch = get(c);
    if (ch >= 0) {
      c->inpos--;
      if (c->inlen - c->inpos >= 3 && !memcmp(c->in + c->inpos, "\xEF\xBB\xBF", 3))
        c->inpos += 3;
    }
  }
  for (;;) { /* skip empty lines */
    ch = get(c);
    if (ch == '\n') c->line++;
    else if (ch == '\r') { eat_lf(c); c->line++; }
    else break;
  }
  if (ch < 0) return c->failed ? -1 : 0;
  c->row_line = c->line;
  c->used = c->text = 0;
  c->nf = 0;
  for (;;) { /* one field per iteration; ch is its first byte */
    if (!begin_field(c)) return -1;
    if (ch == '"') {
      long qline = c->line;
      for (;;) {
        ch = get(c);
        if (ch < 0) {
          /* reported where the quote opened: that is where the fix goes */
          set_err(c, qline, "unterminated quoted field (no closing quote before the end "
                  "of the input)");
          return -1;
        }
        if (ch == '"') {
          ch = get(c);
          if (ch != '"') break; /* closing quote; ch is the byte after it */
        } else if (ch == '\n') {
          c->line++;
        } else if (ch == '\r') {
          int nx = get(c);
          if (nx >= 0) c->pushback = nx;
          if (nx != '\n') c->line++; /* a CRLF counts once, at its LF */
        } else if (ch == 0) {
          set_err(c, c->line, "NUL byte in a field");
          return -1;
        }
        if (!put(c, ch)) return -1;
      }
      if (ch != ',' && ch != '\n' && ch != '\r' && ch >= 0) {
        set_err(c, c->line, "unexpected '%c' after a closing quote (quotes inside a "
                "quoted field must be doubled)", ch);
        return -1;
      }
    } else {
      while (ch != ',' && ch != '\n' && ch != '\r' && ch >= 0) {
        if (ch == '"') {
          set_err(c, c->line, "quote inside an unquoted field (quote the whole field "
                  "and double the quote)");
          return -1;
        }
        if (ch == 0) {
          set_err(c, c->line, "NUL byte in a field");
          return -1;
        }
        if (!put(c, ch)) return -1;
        ch = get(c);
      }
    }
    end_field(c);
    if (ch == ',') {
      ch = get(c);
      continue;
    }
    if (ch == '\r') eat_lf(c);
    if (ch >= 0) c->line++;
    break;
  }
  if (c->failed) return -1; /* a read error ended the row */
  if (!c->expect) {
    c->expect = c->nf;
  } else if (c->nf != c->expect) {
    set_err(c, c->row_line, "ragged row: %d field%s, expected %d (as in the %s)", c->nf,
            c->nf == 1 ? "" : "s", c->expect, c->nh ? "header" : "first row");
    return -1;
  }
  return 1;
}

int fi_csv_next(fi_csv *c) {
  if (c->failed) return -1;
  int r = parse_row(c);
  if (r == 1) c->nrows++;
  return r;
}

int fi_csv_header(fi_csv *c) {
  if (c->failed) return -1;
  int r = parse_row(c);
  if (r == 0) {
    set_err(c, c->line, "no header row (empty input)");
    return -1;
  }
  if (r < 0) return r;
  c->hbuf = fi_malloc(c->used ? c->used : 1);
  memcpy(c->hbuf, c->buf, c->used);
  c->hoff = fi_malloc(sizeof *c->hoff * (size_t)c->nf);
  memcpy(c->hoff, c->off, sizeof *c->hoff * (size_t)c->nf);
  c->nh = c->nf;
  /* A name must say which column it is: a repeated one would make the
   * lookup by name pick one of them silently. */
  fi_strset *names = fi_strset_new();
  for (int i = 0; i < c->nh; i++) {
    int64_t k = fi_strset_add(names, c->hbuf + c->hoff[i]);
    if (k < 0) {
      set_err(c, c->row_line, "column name '%.60s' appears twice in the header (columns %lld and %d)",
              c->hbuf + c->hoff[i], (long long)(-1 - k) + 1, i + 1);
      fi_strset_free(names);
      return -1;
    }
  }
  fi_strset_free(names);
  return 1;
}

int fi_csv_nfields(const fi_csv *c) { return c->nf; }

const char *fi_csv_field(const fi_csv *c, int i, size_t *len) {
  if (i < 0 || i >= c->nf) return NULL;
  const char *s = c->buf + c->off[i];
  if (len) *len = (i + 1 < c->nf ? c->off[i + 1] : c->used) - c->off[i] - 1;
  return s;
}

long fi_csv_line(const fi_csv *c) { return c->row_line; }
long fi_csv_row(const fi_csv *c) { return c->nrows; }
const char *fi_csv_name(const fi_csv *c) { return c->name; }
const char *fi_csv_error(const fi_csv *c) { return c->failed ? c->err : ""; }
int fi_csv_ncolumns(const fi_csv *c) { return c->nh; }

const char *fi_csv_column_name(const fi_csv *c, int i) {
  return i >= 0 && i < c->nh ? c->hbuf + c->hoff[i] : NULL;
}

int fi_csv_column(const fi_csv *c, const char *spec) {
  for (int i = 0; i < c->nh; i++)
    if (!strcmp(c->hbuf + c->hoff[i], spec)) return i;
  if (*spec < '0' || *spec > '9') return -1;
  char *end;
  errno = 0;
  long v = strtol(spec, &end, 10);
  if (errno || end == spec || *end || v < 1) return -1;
  if (c->nh ? v > c->nh : v > FI_CSV_MAX_FIELDS) return -1;
  return (int)v - 1;
}
