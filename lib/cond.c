/* cond.c - evaluate "FIELD OP VALUE" on a record (select --where). */
#include "cond.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Copy s[0..n) without surrounding blanks ("label == 6" reads as "label==6"). */
static int trimmed(char *dst, size_t cap, const char *s, size_t n) {
  while (n && (*s == ' ' || *s == '\t')) s++, n--;
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
  if (n == 0 || n >= cap) return -1;
  memcpy(dst, s, n);
  dst[n] = 0;
  return 0;
}

int fi_cond_parse(const char *expr, fi_cond *c) {
  static const char *ops[] = {"==", "!=", "<=", ">=", "<", ">"};
  memset(c, 0, sizeof *c);
  for (const char *p = expr; *p; p++)
    for (int i = 0; i < 6; i++) {
      size_t n = strlen(ops[i]);
      if (strncmp(p, ops[i], n)) continue;
      if (trimmed(c->field, sizeof c->field, expr, (size_t)(p - expr)) ||
          trimmed(c->value, sizeof c->value, p + n, strlen(p + n)))
        return -1;
      memcpy(c->op, ops[i], n);
      return 0;
    }
  return -1;
}

/* One side of a comparison: a number (an integer exactly, when it is one),
 * or a string. */
typedef struct {
  int kind;          /* 0 none, 1 number, 2 string */
  int is_int;
  int64_t i;
  double d;
  const char *s;
} side;

/* A field's scalar; kind 0 when missing or not a scalar. */
static side field_side(const fi_record *rec, const char *key) {
  side x = {0};
  fi_val v = fi_rec_get(rec, key);
  switch (fi_val_kind(v)) {
  case FI_V_INT:
    x.kind = 1;
    x.is_int = fi_val_int(v, &x.i) == 0;
    fi_val_double(v, &x.d);
    break;
  case FI_V_FLOAT: x.kind = 1; fi_val_double(v, &x.d); break;
  case FI_V_BOOL: {
    int b = 0;
    fi_val_bool(v, &b);
    x = (side){.kind = 1, .is_int = 1, .i = b, .d = b};
    break;
  }
  case FI_V_STR: x.kind = 2; x.s = fi_rec_str(rec, key, NULL, 1); break;
  default: break;
  }
  return x;
}

/* A literal: its text, and the number it spells when it spells one
 * (decimal integers exactly; "nan", "inf", "true", "false" too). */
static side literal_side(const char *t, side *num) {
  side x = {.kind = 2, .s = t};
  char *end;
  errno = 0;
  long long i = strtoll(t, &end, 10);
  *num = (side){0};
  if (end != t && *end == 0 && errno == 0) {
    *num = (side){.kind = 1, .is_int = 1, .i = i, .d = (double)i};
  } else if (!strcmp(t, "true") || !strcmp(t, "false")) {
    int b = t[0] == 't';
    *num = (side){.kind = 1, .is_int = 1, .i = b, .d = b};
  } else {
    double d = strtod(t, &end);
    if (end != t && *end == 0) *num = (side){.kind = 1, .d = d};
  }
  return x;
}

static int cmp_holds(const char *op, int c) {
  if (!strcmp(op, "==")) return c == 0;
  if (!strcmp(op, "!=")) return c != 0;
  if (!strcmp(op, "<")) return c < 0;
  if (!strcmp(op, "<=")) return c <= 0;
  if (!strcmp(op, ">")) return c > 0;
  return c >= 0;
}

/* Numbers: integers compare exactly; NaN equals NaN and nothing else and
 * is not ordered (so ==nan selects NaN, !=nan keeps every other number, and
 * < <= > >= never hold with a NaN). */
static int num_holds(const char *op, const side *a, const side *b) {
  if (a->is_int && b->is_int) return cmp_holds(op, (a->i > b->i) - (a->i < b->i));
  int na = isnan(a->d), nb = isnan(b->d);
  if (na || nb) {
    int eq = na && nb;
    if (!strcmp(op, "==")) return eq;
    if (!strcmp(op, "!=")) return !eq;
    return 0;
  }
  return cmp_holds(op, (a->d > b->d) - (a->d < b->d));
}

int fi_cond_eval(const fi_cond *c, const fi_record *rec) {
  side a = field_side(rec, c->field);
  if (!a.kind) return 0;
  side b, num;
  if (fi_rec_has(rec, c->value)) {
    b = field_side(rec, c->value);
    if (!b.kind) return 0;
  } else { /* a literal: a number against a number field, its text against a string field */
    b = literal_side(c->value, &num);
    if (a.kind == 1 && num.kind == 1) b = num;
  }
  if (a.kind == 1 && b.kind == 1) return num_holds(c->op, &a, &b);
  if (a.kind == 2 && b.kind == 2) return cmp_holds(c->op, strcmp(a.s, b.s));
  return !strcmp(c->op, "!="); /* a number never equals a string */
}
