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
/* True when the condition holds. VALUE names a field when the record has
 * one by that name, else it is a literal. A number field compares with a
 * literal that spells a number ("7", "-1.5e3", "nan", "inf", "true",
 * "false") numerically, integers exactly; a string field compares with the
 * literal's text (so group==123 matches the string "123"), bytewise for
 * < <= > >=. NaN equals only NaN and is not ordered: ==nan selects NaN
 * values, !=nan keeps every other number, < <= > >= are false with a NaN.
 * A number never equals a string (only != holds). A missing field, or a
 * field that is not a scalar, makes the condition false. */
int fi_cond_eval(const fi_cond *c, const fi_record *rec);
#endif
