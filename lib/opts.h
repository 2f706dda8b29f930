/* opts.h - declarative option tables. The same table parses argv and
 * generates --help, so the two can never disagree. */
#ifndef FI_OPTS_H
#define FI_OPTS_H

typedef enum {
  FI_OPT_END = 0,
  FI_OPT_FLAG,    /* int: set to 1 */
  FI_OPT_INT,     /* long long */
  FI_OPT_DOUBLE,  /* double */
  FI_OPT_STR,     /* const char * */
  FI_OPT_CHOICE,  /* const char *, must be one of choices "a|b|c" */
} fi_opt_type;

typedef struct {
  const char *name;      /* long name without "--" */
  char short_name;       /* 0 if none */
  fi_opt_type type;
  void *dest;            /* int*, long long*, double*, const char ** */
  const char *def;       /* default, as text; parsed into dest before argv */
  const char *help;
  const char *choices;   /* FI_OPT_CHOICE: "a|b|c" */
  const char *metavar;   /* e.g. "FILE"; default derived from type */
  int required;          /* usage error when missing */
  double min, max;       /* INT/DOUBLE range, checked when min < max */
} fi_opt;

typedef struct {
  const char *name;      /* tool name, e.g. "grad" */
  const char *purpose;   /* one line */
  const char *usage;     /* e.g. "--model M [options] < examples > gradients" */
  const fi_opt *opts;    /* terminated by {0} */
  const char *details;   /* optional extra paragraph for --help */
  int positional_min, positional_max; /* allowed positional args */
  int stop_at_positional; /* options end at the first positional (a
                             front-end passing the rest to another tool) */
} fi_tool;

/* Parses argv. --help prints help and exits 0; bad options exit 2.
 * Built-in options: --help, --progress. Returns the index of the first
 * positional argument in argv. Sets fi_progname. */
int fi_parse_options(const fi_tool *tool, int argc, char **argv);
/* Was this option given on the command line (not just defaulted)? */
int fi_opt_given(const char *name);

#endif
