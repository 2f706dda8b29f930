/* import.c - helpers shared by the import-* tools (see import.h). */
#include "import.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

struct fi_labels {
  int mode;
  char **fixed;        /* L_FIXED: from fi_split_list */
  int n;              /* classes known */
  fi_strset *index;    /* name -> class (L_NAMES: in order of first appearance) */
  char *desc;
  char why[160];
};

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

fi_labels *fi_labels_new(const char *classes, char *err, size_t errlen) {
  fi_labels *L = fi_calloc(1, sizeof *L);
  L->index = fi_strset_new();
  if (classes) {
    int n = fi_split_list(classes, &L->fixed, err, errlen);
    if (n < 0) {
      fi_labels_free(L);
      return NULL;
    }
    L->mode = L_FIXED;
    L->n = n;
    for (int i = 0; i < n; i++) fi_strset_add(L->index, L->fixed[i]);
  }
  return L;
}

void fi_labels_free(fi_labels *L) {
  if (!L) return;
  free(L->fixed);
  fi_strset_free(L->index);
  free(L->desc);
  free(L);
}

int fi_labels_map(fi_labels *L, const char *cell, int64_t *label, const char **name,
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

int fi_labels_count(const fi_labels *L) { return L->n; }
int fi_labels_numeric(const fi_labels *L) { return L->mode == L_NUMERIC; }

const char *fi_labels_name(const fi_labels *L, int i) {
  if (i < 0 || i >= L->n) return NULL;
  return L->mode == L_FIXED || L->mode == L_NAMES ? fi_strset_at(L->index, i) : NULL;
}

const char *fi_labels_describe(fi_labels *L) {
  free(L->desc);
  if (L->mode == L_NUMERIC || L->mode == L_UNDECIDED) {
    L->desc = fi_strdup(L->mode == L_NUMERIC ? "numeric labels" : "no labels");
    return L->desc;
  }
  size_t len = 1;
  for (int i = 0; i < L->n; i++) len += strlen(fi_labels_name(L, i)) + 16;
  L->desc = fi_malloc(len);
  char *p = L->desc;
  *p = '\0';
  for (int i = 0; i < L->n; i++)
    p += sprintf(p, "%s%s=%d", i ? " " : "", fi_labels_name(L, i), i);
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

/* ---- CSV rows as records ---- */

int fi_import_column(const fi_csv *c, const char *opt, const char *spec) {
  int i = fi_csv_column(c, spec);
  if (i >= 0) return i;
  char cols[1024];
  size_t n = 0;
  cols[0] = '\0';
  for (int j = 0; j < fi_csv_ncolumns(c) && n < sizeof cols - 64; j++) {
    int m = snprintf(cols + n, sizeof cols - n, "%s%s", j ? ", " : "", fi_csv_column_name(c, j));
    if (m > 0) n += (size_t)m < sizeof cols - n ? (size_t)m : sizeof cols - n - 1;
  }
  fi_die("%s: --%s: no column '%s' (columns: %s)", fi_csv_name(c), opt, spec, cols);
}

void fi_import_die(const fi_csv *c, const char *id, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fi_die("%s:%ld: record '%s': %s", fi_csv_name(c), fi_csv_line(c), id, msg);
}

const char *fi_import_id(const fi_csv *c, int idcol, const char *prefix) {
  static char *buf;
  static size_t cap;
  if (idcol >= 0) {
    const char *id = fi_csv_field(c, idcol, NULL);
    const char *why = fi_id_problem(id);
    if (why)
      fi_die("%s:%ld: id column '%s': %s: '%.60s'", fi_csv_name(c), fi_csv_line(c),
             fi_csv_column_name(c, idcol), why, id);
    return id;
  }
  size_t need = strlen(prefix) + 24;
  if (need > cap) {
    free(buf);
    buf = fi_malloc(cap = need);
  }
  snprintf(buf, cap, "%s%ld", prefix, fi_csv_row(c));
  return buf;
}


void fi_import_check_utf8(const fi_csv *c, const char *id) {
  for (int j = 0; j < fi_csv_ncolumns(c); j++) {
    size_t n;
    const char *s = fi_csv_field(c, j, &n);
    long bad = fi_utf8_invalid_at((const unsigned char *)s, n);
    if (bad >= 0)
      fi_import_die(c, id, "column '%s': not valid UTF-8 (byte %ld of the cell); convert the file (iconv)",
                    fi_csv_column_name(c, j), bad);
  }
}

void fi_idclaim_init(fi_idclaim *ic) {
  ic->ids = fi_strset_new();
  ic->line = NULL;
  ic->cap = 0;
}

void fi_idclaim_free(fi_idclaim *ic) {
  fi_strset_free(ic->ids);
  free(ic->line);
}

void fi_import_claim(const fi_csv *c, fi_idclaim *ic, const char *id) {
  int64_t k = fi_strset_add(ic->ids, id);
  if (k < 0) fi_import_die(c, id, "duplicate id (first on line %ld)", ic->line[-1 - k]);
  if (k == ic->cap) {
    ic->cap = ic->cap ? 2 * ic->cap : 1024;
    ic->line = fi_realloc(ic->line, fi_mul_size((size_t)ic->cap, sizeof *ic->line, "id lines"));
  }
  ic->line[k] = fi_csv_line(c);
}

void fi_where_init(fi_where *wh, const fi_csv *c, const char *spec) {
  wh->col = -1;
  wh->value = NULL;
  wh->name = NULL;
  if (!spec) return;
  const char *eq = strchr(spec, '=');
  if (!eq || eq == spec) fi_usage_error("--where expects COL=VALUE, not '%s'", spec);
  wh->name = fi_strdup(spec);
  wh->name[eq - spec] = '\0';
  wh->value = eq + 1;
  wh->col = fi_import_column(c, "where", wh->name);
}

int fi_where_keep(const fi_where *wh, const fi_csv *c) {
  return wh->col < 0 || !strcmp(fi_csv_field(c, wh->col, NULL), wh->value);
}

void fi_where_free(fi_where *wh) {
  free(wh->name);
  wh->name = NULL;
}
