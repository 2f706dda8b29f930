/* import.c - helpers shared by the import-* tools (see import.h). */
#include "import.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strset.h"
#include "util.h"

/* ---- lists ---- */

int fi_split_list(const char *list, char ***names, char *err, size_t errlen) {
  size_t len = strlen(list);
  int n = 1;
  for (const char *p = list; *p; p++) n += *p == ',';
  char **v = fi_malloc((size_t)(n + 1) * sizeof *v + len + 1);
  char *text = (char *)(v + n + 1);
  memcpy(text, list, len + 1);
  int k = 0;
  for (char *p = text;;) {
    char *comma = strchr(p, ',');
    if (comma) *comma = '\0';
    if (!*p) {
      snprintf(err, errlen, "empty name in list '%s'", list);
      goto fail;
    }
    for (int j = 0; j < k; j++)
      if (!strcmp(v[j], p)) {
        snprintf(err, errlen, "'%s' appears twice in list '%s'", p, list);
        goto fail;
      }
    v[k++] = p;
    if (!comma) break;
    p = comma + 1;
  }
  v[k] = NULL;
  *names = v;
  return k;
fail:
  free(v);
  return -1;
}

/* ---- labels ---- */

enum { L_UNDECIDED, L_FIXED, L_NUMERIC, L_NAMES };

typedef struct {
  int mode;
  char **fixed;        /* L_FIXED: from fi_split_list */
  int n;              /* classes known */
  fi_strset *index;    /* name -> class (L_NAMES: in order of first appearance) */
  char *desc;
  char why[160];
} fi_labels;

/* Non-negative decimal integer below 2^31, digits only. */
static int parse_class(const char *s, int64_t *out) {
  if (!*s) return -1;
  int64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    v = v * 10 + (*p - '0');
    if (v > INT32_MAX) return -1;
  }
  *out = v;
  return 0;
}

static void labels_free(fi_labels *L);

static fi_labels *labels_new(const char *classes, char *err, size_t errlen) {
  fi_labels *L = fi_calloc(1, sizeof *L);
  L->index = fi_strset_new();
  if (classes) {
    int n = fi_split_list(classes, &L->fixed, err, errlen);
    if (n < 0) {
      labels_free(L);
      return NULL;
    }
    L->mode = L_FIXED;
    L->n = n;
    for (int i = 0; i < n; i++) fi_strset_add(L->index, L->fixed[i]);
  }
  return L;
}

static void labels_free(fi_labels *L) {
  if (!L) return;
  free(L->fixed);
  fi_strset_free(L->index);
  free(L->desc);
  free(L);
}

static int labels_map(fi_labels *L, const char *cell, int64_t *label, const char **name,
                      const char **why) {
  int64_t v;
  if (L->mode == L_UNDECIDED) L->mode = parse_class(cell, &v) == 0 ? L_NUMERIC : L_NAMES;
  switch (L->mode) {
  case L_FIXED:
    if ((v = fi_strset_find(L->index, cell)) >= 0 ||
        (parse_class(cell, &v) == 0 && v < L->n)) {
      *label = v;
      *name = L->fixed[v];
      return 0;
    }
    snprintf(L->why, sizeof L->why, "label '%.60s' is not one of --classes", cell);
    *why = L->why;
    return -1;
  case L_NUMERIC:
    if (parse_class(cell, &v)) {
      snprintf(L->why, sizeof L->why,
               "label '%.60s' is not a class number (the first label was a number; "
               "give --classes for named labels)", cell);
      *why = L->why;
      return -1;
    }
    if (v >= L->n) L->n = (int)v + 1;
    *label = v;
    *name = NULL;
    return 0;
  default: /* L_NAMES */
    if (!*cell) {
      *why = "empty label";
      return -1;
    }
    v = fi_strset_add(L->index, cell);
    if (v < 0) v = -1 - v;
    else L->n = (int)v + 1;
    *label = v;
    *name = fi_strset_at(L->index, v);
    return 0;
  }
}

static const char *labels_name(const fi_labels *L, int i) {
  if (i < 0 || i >= L->n) return NULL;
  return L->mode == L_FIXED || L->mode == L_NAMES ? fi_strset_at(L->index, i) : NULL;
}

static const char *labels_describe(fi_labels *L) {
  free(L->desc);
  if (L->mode == L_NUMERIC || L->mode == L_UNDECIDED) {
    L->desc = fi_strdup(L->mode == L_NUMERIC ? "numeric labels" : "no labels");
    return L->desc;
  }
  size_t len = 1;
  for (int i = 0; i < L->n; i++) len += strlen(labels_name(L, i)) + 16;
  L->desc = fi_malloc(len);
  char *p = L->desc;
  *p = '\0';
  for (int i = 0; i < L->n; i++)
    p += sprintf(p, "%s%s=%d", i ? " " : "", labels_name(L, i), i);
  return L->desc;
}

/* ---- ids ---- */

const char *fi_id_problem(const char *s) {
  if (!*s) return "empty id";
  for (; *s; s++)
    if (isspace((unsigned char)*s)) return "id contains whitespace";
  return NULL;
}

/* ---- numbers ---- */

int fi_parse_f32_cell(const char *s, float *out) {
  char *end;
  errno = 0;
  /* via double then one rounding to float, as numpy/Python readers do */
  double d = strtod(s, &end);
  if (end == s) return -1;
  while (*end == ' ' || *end == '\t') end++;
  if (*end) return -1;
  float f = (float)d;
  if (!isfinite(f)) return -1;
  *out = f;
  return 0;
}

/* ---- CSV rows as examples ---- */

typedef struct {
  fi_strset *ids;
  long *line;      /* line of each id's row */
  int64_t cap;
} idclaim;

struct fi_import {
  fi_csv *csv;
  fi_labels *labels;
  int fixed;                 /* classes given: dropped rows need no mapping */
  int lcol, icol, gcol, wcol; /* -1: none */
  const char *wvalue;
  const char *prefix;
  char *idbuf;               /* generated ids */
  size_t idcap;
  idclaim seen;
};

const fi_csv *fi_import_csv(const fi_import *im) { return im->csv; }

int fi_import_column(const fi_import *im, const char *setting, const char *spec, fi_err *e) {
  const fi_csv *c = im->csv;
  int i = fi_csv_column(c, spec);
  if (i >= 0) return i;
  char cols[1024];
  size_t n = 0;
  cols[0] = '\0';
  for (int j = 0; j < fi_csv_ncolumns(c) && n < sizeof cols - 64; j++) {
    int m = snprintf(cols + n, sizeof cols - n, "%s%s", j ? ", " : "", fi_csv_column_name(c, j));
    if (m > 0) n += (size_t)m < sizeof cols - n ? (size_t)m : sizeof cols - n - 1;
  }
  return fi_err_set(e, FI_ERR_DATA, setting, "%s: no column '%s' (columns: %s)", fi_csv_name(c), spec, cols);
}

int fi_import_uses_column(const fi_import *im, int j) {
  return j == im->lcol || j == im->icol || j == im->gcol || j == im->wcol;
}

fi_import *fi_import_open(const char *path, const fi_import_opts *o, fi_err *e) {
  char err[512];
  const char *eq = o->where ? strchr(o->where, '=') : NULL;
  if (o->where && (!eq || eq == o->where)) {
    fi_err_set(e, FI_ERR_USAGE, "where", "expects COL=VALUE, not '%s'", o->where);
    return NULL;
  }
  fi_labels *labels = labels_new(o->classes, err, sizeof err);
  if (!labels) {
    fi_err_set(e, FI_ERR_USAGE, "classes", "%s", err);
    return NULL;
  }
  fi_import *im = fi_calloc(1, sizeof *im);
  im->labels = labels;
  im->fixed = o->classes != NULL;
  im->prefix = o->id_prefix;
  im->lcol = im->icol = im->gcol = im->wcol = -1;
  im->csv = fi_csv_open(path, err, sizeof err);
  if (!im->csv) fi_die("%s", err);
  fi_csv_set_max_row(im->csv, o->max_row);
  if (fi_csv_header(im->csv) < 0) fi_die("%s", fi_csv_error(im->csv));
  im->seen.ids = fi_strset_new();
  char *wname = o->where ? fi_strdup(o->where) : NULL;
  if (wname) {
    wname[eq - o->where] = '\0';
    im->wvalue = eq + 1;
  }
  if ((im->lcol = fi_import_column(im, "label", o->label, e)) < 0 ||
      (o->id && (im->icol = fi_import_column(im, "id", o->id, e)) < 0) ||
      (o->group && (im->gcol = fi_import_column(im, "group", o->group, e)) < 0) ||
      (wname && (im->wcol = fi_import_column(im, "where", wname, e)) < 0)) {
    free(wname);
    fi_import_close(im);
    return NULL;
  }
  free(wname);
  return im;
}

void fi_import_close(fi_import *im) {
  if (!im) return;
  fi_csv_close(im->csv);
  labels_free(im->labels);
  fi_strset_free(im->seen.ids);
  free(im->seen.line);
  free(im->idbuf);
  free(im);
}

void fi_import_die(const fi_import *im, const char *id, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fi_die("%s:%ld: record '%s': %s", fi_csv_name(im->csv), fi_csv_line(im->csv), id, msg);
}

/* The current row's id: the id cell (checked), or PREFIX followed by the
 * 1-based data row number, which does not depend on any row filter. */
static const char *row_id(fi_import *im) {
  const fi_csv *c = im->csv;
  if (im->icol >= 0) {
    const char *id = fi_csv_field(c, im->icol, NULL);
    const char *why = fi_id_problem(id);
    if (why)
      fi_die("%s:%ld: id column '%s': %s: '%.60s'", fi_csv_name(c), fi_csv_line(c),
             fi_csv_column_name(c, im->icol), why, id);
    return id;
  }
  size_t need = strlen(im->prefix) + 24;
  if (need > im->idcap) {
    free(im->idbuf);
    im->idbuf = fi_malloc(im->idcap = need);
  }
  snprintf(im->idbuf, im->idcap, "%s%ld", im->prefix, fi_csv_row(c));
  return im->idbuf;
}

/* msgpack strings must be valid UTF-8 (Python's reader rejects others). */
static void check_utf8(const fi_import *im, const char *id) {
  const fi_csv *c = im->csv;
  for (int j = 0; j < fi_csv_ncolumns(c); j++) {
    size_t n;
    const char *s = fi_csv_field(c, j, &n);
    long bad = fi_utf8_invalid_at((const unsigned char *)s, n);
    if (bad >= 0)
      fi_import_die(im, id, "column '%s': not valid UTF-8 (byte %ld of the cell); convert the file (iconv)",
                    fi_csv_column_name(c, j), bad);
  }
}

/* Records id as used on the current line; dies if it was used before. */
static void claim(fi_import *im, const char *id) {
  idclaim *ic = &im->seen;
  int64_t k = fi_strset_add(ic->ids, id);
  if (k < 0) fi_import_die(im, id, "duplicate id (first on line %ld)", ic->line[-1 - k]);
  if (k == ic->cap) {
    ic->cap = ic->cap ? 2 * ic->cap : 1024;
    ic->line = fi_realloc(ic->line, fi_mul_size((size_t)ic->cap, sizeof *ic->line, "id lines"));
  }
  ic->line[k] = fi_csv_line(im->csv);
}

int fi_import_next(fi_import *im, fi_import_row *row) {
  const fi_csv *c = im->csv;
  int r;
  while ((r = fi_csv_next(im->csv)) == 1) {
    const char *id = row_id(im);
    check_utf8(im, id);
    int keep = im->wcol < 0 || !strcmp(fi_csv_field(c, im->wcol, NULL), im->wvalue);
    if (!keep && im->fixed) continue; /* fixed classes: filtered rows need no mapping */
    const char *why;
    if (labels_map(im->labels, fi_csv_field(c, im->lcol, NULL), &row->label, &row->label_name, &why))
      fi_import_die(im, id, "column '%s': %s", fi_csv_column_name(c, im->lcol), why);
    if (!keep) continue;
    claim(im, id);
    row->id = id;
    row->group = im->gcol >= 0 ? fi_csv_field(c, im->gcol, NULL) : NULL;
    return 1;
  }
  if (r < 0) fi_die("%s", fi_csv_error(c));
  return 0;
}

void fi_import_wbegin(fi_writer *w, const fi_import_row *row, int nmine) {
  fi_wbegin(w, row->id, 1 + nmine + (row->label_name != NULL) + (row->group != NULL));
  fi_wint(w, "label", row->label);
}

void fi_import_wend(fi_writer *w, const fi_import_row *row) {
  if (row->label_name) fi_wstr(w, "label_name", row->label_name);
  if (row->group) fi_wstr(w, "group", row->group);
  fi_wend(w);
}

const char *fi_import_classes(fi_import *im) { return labels_describe(im->labels); }
