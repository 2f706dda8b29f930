/* opts.h - declarative option tables. One table per tool parses argv and
 * generates --help, the man page (--help-man) and the bash completion
 * (--help-completion), so none of them can disagree with the others.
 *
 * Each row has a kind that says what the value is and the C type it is
 * stored in. Rows are written with the FI_* macros below, which check the
 * destination's type at compile time (an int64_t option cannot point at an
 * int) and record its size, which fi_parse_options checks again against the
 * kind before it parses anything (a row written by hand must agree too).
 *
 * A value is parsed once, here: a CHOICE arrives as an index into its
 * choices (an enum at the call site), a number-or-auto as fi_num_auto. A
 * range in a row is the flag's own static domain; a rule that depends on
 * data or on other settings is the library's, which returns it as an fi_err
 * (util.h) that fi_opt_fail() reports naming the flag. */
#ifndef FI_OPTS_H
#define FI_OPTS_H
#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef enum {
  FI_OPT_END = 0,
  FI_OPT_FLAG,     /* int: 0, or 1 when given */
  FI_OPT_INT,      /* int */
  FI_OPT_I64,      /* int64_t */
  FI_OPT_U64,      /* uint64_t (seeds); a leading '-' is refused */
  FI_OPT_DOUBLE,   /* double, finite */
  FI_OPT_NUM_AUTO, /* fi_num_auto: a finite number, or the word "auto" */
  FI_OPT_STR,      /* const char * (NULL when neither given nor defaulted) */
  FI_OPT_PATH,     /* const char *: a file name ("-" = a standard stream) */
  FI_OPT_CHOICE,   /* int: index into .choices */
} fi_opt_kind;

typedef struct {
  int is_auto;     /* the word "auto" was given */
  double value;    /* the number otherwise (0 with auto) */
} fi_num_auto;

typedef struct {
  const char *name;      /* long name without "--" */
  char short_name;       /* 0 if none */
  fi_opt_kind kind;
  void *dest;            /* see the kinds */
  size_t size;           /* sizeof *dest, checked against the kind */
  const char *def;       /* default, as text; parsed into dest before argv */
  const char *help;
  const char *const *choices; /* FI_OPT_CHOICE: names, NULL-terminated; index = value */
  const char *metavar;   /* e.g. "FILE"; default derived from the kind */
  int required;          /* usage error when missing */
  double min, max;       /* numeric range, checked when min < max */
  int above_min;         /* the range excludes min itself (x > min) */
  const char *setting;   /* library name of the setting (fi_err.setting), if not the option's name */
} fi_opt;

/* Rows. Trailing arguments are further designated initialisers:
 * .min/.max/.above_min, .metavar, .required, .setting. */
#define FI_OPT_ROW_(K, T, nm, sh, p, dflt, hlp, ...)                                    \
  {.name = (nm), .short_name = (sh), .kind = (K), .dest = _Generic((p), T *: (p)),      \
   .size = sizeof *(p), .def = (dflt), .help = (hlp), __VA_ARGS__}
#define FI_FLAG(nm, sh, p, hlp, ...) FI_OPT_ROW_(FI_OPT_FLAG, int, nm, sh, p, NULL, hlp, __VA_ARGS__)
#define FI_INT(nm, sh, p, d, hlp, ...) FI_OPT_ROW_(FI_OPT_INT, int, nm, sh, p, d, hlp, __VA_ARGS__)
#define FI_I64(nm, sh, p, d, hlp, ...) FI_OPT_ROW_(FI_OPT_I64, int64_t, nm, sh, p, d, hlp, __VA_ARGS__)
#define FI_U64(nm, sh, p, d, hlp, ...) FI_OPT_ROW_(FI_OPT_U64, uint64_t, nm, sh, p, d, hlp, __VA_ARGS__)
#define FI_DOUBLE(nm, sh, p, d, hlp, ...) FI_OPT_ROW_(FI_OPT_DOUBLE, double, nm, sh, p, d, hlp, __VA_ARGS__)
#define FI_NUM_AUTO(nm, sh, p, d, hlp, ...) \
  FI_OPT_ROW_(FI_OPT_NUM_AUTO, fi_num_auto, nm, sh, p, d, hlp, __VA_ARGS__)
#define FI_STR(nm, sh, p, d, hlp, ...) FI_OPT_ROW_(FI_OPT_STR, const char *, nm, sh, p, d, hlp, __VA_ARGS__)
#define FI_PATH(nm, sh, p, d, hlp, ...) FI_OPT_ROW_(FI_OPT_PATH, const char *, nm, sh, p, d, hlp, __VA_ARGS__)
#define FI_CHOICE(nm, sh, p, d, ch, hlp, ...) \
  FI_OPT_ROW_(FI_OPT_CHOICE, int, nm, sh, p, d, hlp, .choices = (ch), __VA_ARGS__)

typedef struct {
  const char *name;      /* tool name, e.g. "grad" */
  const char *purpose;   /* one line */
  const char *usage;     /* e.g. "--model M [options] < examples > gradients" */
  const fi_opt *opts;    /* terminated by {0} */
  const char *details;   /* optional extra paragraph for --help */
  int positional_min, positional_max; /* allowed positional args */
  int stop_at_positional; /* options end at the first positional (a
                             front-end passing the rest to another tool) */
  const char *positional_kind; /* completion of positional arguments: "file"
                                  (the default when any are allowed), or
                                  "a|b|c" for a fixed set of words */
  int delegates;         /* the first positional names a tool (or a word of
                            positional_kind) whose completion takes over */
} fi_tool;

/* Parses argv. Built-in options: --help, --version, --progress,
 * --no-progress, and the hidden --help-man and --help-completion (the man
 * page and the bash completion, generated from the table). The ones that
 * print exit 0; bad options exit 2. Returns the index of the first
 * positional argument in argv. Sets fi_progname. */
int fi_parse_options(const fi_tool *tool, int argc, char **argv);
/* Was this option given on the command line (not just defaulted)? */
int fi_opt_given(const char *name);
/* The name of choice i of the option `name` of the current tool. */
const char *fi_opt_choice(const char *name, int i);

/* Report a library error about the settings of the current tool: prefixed
 * with the option whose name or .setting is e->setting, as a usage error
 * (exit 2) for FI_ERR_USAGE and fi_die (exit 1) for FI_ERR_DATA. */
_Noreturn void fi_opt_fail(const fi_err *e);

/* The version of fastif these tools were built from (the VERSION file,
 * and the git commit when built from a checkout). */
extern const char fi_version[];

#endif
