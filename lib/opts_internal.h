/* opts_internal.h - what opts.c and opts_gen.c share (not for tools): the
 * options every tool has and the texts of a row, so --help, the man page
 * and the completion say the same. */
#ifndef FI_OPTS_INTERNAL_H
#define FI_OPTS_INTERNAL_H
#include <stddef.h>

#include "opts.h"

typedef struct {
  const char *name, *lhs, *help; /* help NULL: not listed (--help-man, --help-completion) */
} fi_opt_builtin;
extern const fi_opt_builtin fi_opt_builtins[]; /* ends with a NULL name */

const char *fi_opt_metavar(const fi_opt *o, char *buf, size_t n);  /* "FILE", "a|b|c", ... */
const char *fi_opt_join(const fi_opt *o, char *buf, size_t n, const char *sep); /* the choices */
const char *fi_opt_default_text(const fi_opt *o, char *buf, size_t n); /* " (default: x)", " (required)" */
void fi_opts_print_man(const fi_tool *t);
void fi_opts_print_completion(const fi_tool *t);

#endif
