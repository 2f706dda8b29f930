/* cond.h - record conditions "FIELD OP VALUE" for filtering streams. */
#ifndef FI_COND_H
#define FI_COND_H
#include "stream.h"

typedef struct {
  char field[128];
  char op[3];
  char value[256];   /* a literal, or a field name when it names one */
} fi_cond;

int fi_cond_parse(const char *expr, fi_cond *c);          /* 0 ok */
/* True when the condition holds. Numbers compare numerically; strings
 * compare as strings (== and != only make sense then, < > are bytewise).
 * A missing field makes the condition false. */
int fi_cond_eval(const fi_cond *c, const fi_record *rec);
#endif
