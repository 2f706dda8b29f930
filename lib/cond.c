/* cond.c - evaluate "FIELD OP VALUE" on a record (select --where). */
#include "cond.h"

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

/* A scalar: number or string. Returns 0 missing, 1 number, 2 string. */
static int scalar(const fi_record *rec, const char *key, double *num, const char **str) {
  fi_val v = fi_rec_get(rec, key);
  switch (fi_val_kind(v)) {
  case FI_V_INT:
  case FI_V_FLOAT: fi_val_double(v, num); return 1;
  case FI_V_BOOL: { int b = 0; fi_val_bool(v, &b); *num = b; return 1; }
  case FI_V_STR: *str = fi_rec_str(rec, key, NULL, 1); return 2;
  default: return 0;
  }
}

static int cmp_holds(const char *op, int c) {
  if (!strcmp(op, "==")) return c == 0;
  if (!strcmp(op, "!=")) return c != 0;
  if (!strcmp(op, "<")) return c < 0;
  if (!strcmp(op, "<=")) return c <= 0;
  if (!strcmp(op, ">")) return c > 0;
  return c >= 0;
}

int fi_cond_eval(const fi_cond *c, const fi_record *rec) {
  double a = 0, b = 0;
  const char *as = NULL, *bs = NULL;
  int ka = scalar(rec, c->field, &a, &as);
  if (!ka) return 0;
  int kb = fi_rec_has(rec, c->value) ? scalar(rec, c->value, &b, &bs) : 0;
  if (!kb) { /* a literal */
    char *end;
    b = strtod(c->value, &end);
    if (*end == 0 && end != c->value) kb = 1;
    else { bs = c->value; kb = 2; }
  }
  if (ka == 1 && kb == 1) return cmp_holds(c->op, (a > b) - (a < b));
  if (ka == 2 && kb == 2) return cmp_holds(c->op, strcmp(as, bs));
  return !strcmp(c->op, "!="); /* a number never equals a string */
}
