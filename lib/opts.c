/* opts.c - parse argv from a declarative table; --help from the same table
 * (the man page and the bash completion: opts_gen.c). */
#include "opts.h"
#include "opts_internal.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef FI_VERSION
#define FI_VERSION "unknown"
#endif
const char fi_version[] = FI_VERSION;

static const fi_tool *cur;
static char given[128];    /* given[i]: option i appeared on the command line */
static int progress_flag = -1; /* --progress 1, --no-progress 0, else by the terminal */
static char **pos;          /* positional arguments, freed at exit */

static void free_pos(void) { free(pos); }

/* The C type each kind stores into, by size. */
static size_t kind_size(fi_opt_kind k) {
  switch (k) {
  case FI_OPT_FLAG: case FI_OPT_INT: case FI_OPT_CHOICE: return sizeof(int);
  case FI_OPT_I64: return sizeof(int64_t);
  case FI_OPT_U64: return sizeof(uint64_t);
  case FI_OPT_DOUBLE: return sizeof(double);
  case FI_OPT_NUM_AUTO: return sizeof(fi_num_auto);
  case FI_OPT_STR: case FI_OPT_PATH: return sizeof(const char *);
  default: return 0;
  }
}

static int is_int_kind(fi_opt_kind k) { return k == FI_OPT_INT || k == FI_OPT_I64 || k == FI_OPT_U64; }

/* "a|b|c" (sep "|") from the choices, into buf. */
const char *fi_opt_join(const fi_opt *o, char *buf, size_t n, const char *sep) {
  size_t len = 0;
  buf[0] = 0;
  for (int i = 0; o->choices[i]; i++) {
    int m = snprintf(buf + len, n - len, "%s%s", i ? sep : "", o->choices[i]);
    if (m < 0 || (size_t)m >= n - len) break;
    len += (size_t)m;
  }
  return buf;
}
static const char *join_choices(const fi_opt *o, char *buf, size_t n) { return fi_opt_join(o, buf, n, "|"); }

const char *fi_opt_metavar(const fi_opt *o, char *buf, size_t n) {
  if (o->metavar) return o->metavar;
  switch (o->kind) {
  case FI_OPT_INT: case FI_OPT_I64: case FI_OPT_U64: return "INT";
  case FI_OPT_DOUBLE: return "NUM";
  case FI_OPT_NUM_AUTO: return "NUM|auto";
  case FI_OPT_STR: return "STR";
  case FI_OPT_PATH: return "FILE";
  case FI_OPT_CHOICE: return join_choices(o, buf, n);
  default: return "";
  }
}

/* "--name", or "-k" for a one-letter name that is also the short name. */
static const char *flag_name(const fi_opt *o, char *buf, size_t n) {
  if (o->short_name && o->name[0] == o->short_name && !o->name[1]) snprintf(buf, n, "-%c", o->short_name);
  else snprintf(buf, n, "--%s", o->name);
  return buf;
}

/* Rows are checked before anything is parsed: a table that disagrees with
 * its destinations is a programming error, reported as such. */
static void check_table(const fi_tool *t) {
  int n = 0;
  for (const fi_opt *o = t->opts; o && o->name; o++, n++) {
    if ((size_t)n >= sizeof given) fi_die("internal: option table of %s: more than %zu options", t->name, sizeof given);
    size_t want = kind_size(o->kind);
    if (!want || !o->dest || o->size != want)
      fi_die("internal: option table of %s: --%s stores %zu bytes, its kind needs %zu", t->name, o->name,
             o->size, want);
    if (o->kind == FI_OPT_CHOICE && (!o->choices || !o->choices[0]))
      fi_die("internal: option table of %s: --%s has no choices", t->name, o->name);
    if (o->kind == FI_OPT_FLAG && o->def) fi_die("internal: option table of %s: flag --%s has a default", t->name, o->name);
    for (const fi_opt *p = t->opts; p < o; p++)
      if (!strcmp(p->name, o->name) || (o->short_name && p->short_name == o->short_name))
        fi_die("internal: option table of %s: --%s and --%s clash", t->name, p->name, o->name);
  }
}

/* The range part of an error message: "between 1 and 100", "above 0". */
static const char *range_text(const fi_opt *o, char *buf, size_t n) {
  const char *fmt = is_int_kind(o->kind) ? "%.0f" : "%g";
  const char *or_auto = o->kind == FI_OPT_NUM_AUTO ? " (or auto)" : "";
  char lo[40], hi[40];
  snprintf(lo, sizeof lo, fmt, o->min);
  snprintf(hi, sizeof hi, fmt, o->max);
  if (o->max >= 1e300) snprintf(buf, n, "%s %s%s", o->above_min ? "above" : "at least", lo, or_auto);
  else if (o->above_min) snprintf(buf, n, "above %s and at most %s%s", lo, hi, or_auto);
  else snprintf(buf, n, "between %s and %s%s", lo, hi, or_auto);
  return buf;
}

static int out_of_range(const fi_opt *o, double x) {
  if (!(o->min < o->max)) return 0;
  return o->above_min ? !(x > o->min && x <= o->max) : !(x >= o->min && x <= o->max);
}

static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  while (*s == ' ') s++;
  if (*s == '-') return -1;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end) return -1;
  *out = v;
  return 0;
}

/* Store value text into the destination; from_default says who to blame. */
static void set_value(const fi_opt *o, const char *v, int from_default) {
  const char *who = from_default ? "default of " : "";
  char r[128], fl[64];
  const char *f = flag_name(o, fl, sizeof fl);
  switch (o->kind) {
  case FI_OPT_FLAG: *(int *)o->dest = 1; return;
  case FI_OPT_STR: case FI_OPT_PATH: *(const char **)o->dest = v; return;
  case FI_OPT_CHOICE:
    for (int i = 0; o->choices[i]; i++)
      if (!strcmp(o->choices[i], v)) {
        *(int *)o->dest = i;
        return;
      }
    fi_usage_error("%s%s must be one of %s, not '%s'", who, f, join_choices(o, r, sizeof r), v);
  case FI_OPT_INT: case FI_OPT_I64: {
    long long x;
    if (fi_parse_ll(v, &x)) fi_usage_error("%s%s expects an integer, not '%s'", who, f, v);
    if (o->kind == FI_OPT_INT && (x < -2147483647LL - 1 || x > 2147483647LL))
      fi_usage_error("%s%s: %lld is too large", who, f, x);
    if (out_of_range(o, (double)x)) fi_usage_error("%s must be %s, not %lld", f, range_text(o, r, sizeof r), x);
    if (o->kind == FI_OPT_INT) *(int *)o->dest = (int)x;
    else *(int64_t *)o->dest = x;
    return;
  }
  case FI_OPT_U64: {
    uint64_t x;
    if (parse_u64(v, &x)) fi_usage_error("%s%s expects an integer >= 0, not '%s'", who, f, v);
    if (out_of_range(o, (double)x))
      fi_usage_error("%s must be %s, not %llu", f, range_text(o, r, sizeof r), (unsigned long long)x);
    *(uint64_t *)o->dest = x;
    return;
  }
  case FI_OPT_DOUBLE: case FI_OPT_NUM_AUTO: {
    double x = 0;
    int is_auto = o->kind == FI_OPT_NUM_AUTO && !strcmp(v, "auto");
    if (!is_auto && fi_parse_double(v, &x))
      fi_usage_error("%s%s expects a number%s, not '%s'", who, f, o->kind == FI_OPT_NUM_AUTO ? " or 'auto'" : "", v);
    if (!is_auto && out_of_range(o, x)) fi_usage_error("%s must be %s, not %g", f, range_text(o, r, sizeof r), x);
    if (o->kind == FI_OPT_DOUBLE) *(double *)o->dest = x;
    else *(fi_num_auto *)o->dest = (fi_num_auto){.is_auto = is_auto, .value = x};
    return;
  }
  default: return;
  }
}

/* Options every tool has. help NULL: not listed (generators for the build). */
const fi_opt_builtin fi_opt_builtins[] = {
    {"--progress", "    --progress", "show progress on stderr also when it is not a terminal (default: on a terminal only)"},
    {"--no-progress", "    --no-progress", "show no progress (default: progress when stderr is a terminal)"},
    {"--version", "    --version", "print the version and exit"},
    {"--help", "    --help", "print this help and exit"},
    {"--help-man", NULL, NULL},
    {"--help-completion", NULL, NULL},
    {NULL, NULL, NULL}};

const char *fi_opt_default_text(const fi_opt *o, char *buf, size_t n) {
  if (o->required) snprintf(buf, n, " (required)");
  else if (o->help && strstr(o->help, "(default:")) buf[0] = 0; /* the help text says it itself */
  else if (o->kind == FI_OPT_FLAG) snprintf(buf, n, " (default: off)");
  else snprintf(buf, n, " (default: %s)", o->def ? o->def : "none");
  return buf;
}

static void print_help(const fi_tool *t) {
  printf("%s - %s\n\nusage: %s %s\n\noptions:\n", t->name, t->purpose, t->name, t->usage);
  for (const fi_opt *o = t->opts; o && o->name; o++) {
    char lhs[160], mvb[160];
    const char *mv = fi_opt_metavar(o, mvb, sizeof mvb);
    if (o->short_name)
      snprintf(lhs, sizeof lhs, "-%c, --%s%s%s", o->short_name, o->name, *mv ? " " : "", mv);
    else
      snprintf(lhs, sizeof lhs, "    --%s%s%s", o->name, *mv ? " " : "", mv);
    char dt[200];
    printf("  %-30s %s%s\n", lhs, o->help ? o->help : "", fi_opt_default_text(o, dt, sizeof dt));
  }
  for (const fi_opt_builtin *b = fi_opt_builtins; b->name; b++)
    if (b->help) printf("  %-30s %s\n", b->lhs, b->help);
  if (t->details) printf("\n%s\n", t->details);
}

static int find_row(const fi_tool *t, const char *name) {
  int i = 0;
  for (const fi_opt *o = t->opts; o && o->name; o++, i++)
    if (!strcmp(o->name, name)) return i;
  return -1;
}

int fi_opt_given(const char *name) {
  int i = cur ? find_row(cur, name) : -1;
  return i >= 0 && given[i];
}

const char *fi_opt_choice(const char *name, int i) {
  int r = cur ? find_row(cur, name) : -1;
  if (r < 0 || cur->opts[r].kind != FI_OPT_CHOICE) fi_die("internal: --%s is not a choice", name);
  for (int j = 0; cur->opts[r].choices[j]; j++)
    if (j == i) return cur->opts[r].choices[j];
  fi_die("internal: --%s has no choice %d", name, i);
}

void fi_opt_fail(const fi_err *e) {
  const fi_opt *hit = NULL;
  for (const fi_opt *o = cur ? cur->opts : NULL; e->setting && o && o->name; o++)
    if (!strcmp(o->setting ? o->setting : o->name, e->setting)) hit = o;
  char fl[64];
  const char *f = hit ? flag_name(hit, fl, sizeof fl) : NULL;
  if (e->kind == FI_ERR_USAGE) {
    if (f) fi_usage_error("%s: %s", f, e->msg);
    fi_usage_error("%s", e->msg);
  }
  if (f) fi_die("%s: %s", f, e->msg);
  fi_die("%s", e->msg);
}

/* --help and the others that print exit here; returns 1 for the rest. */
static int builtin_option(const fi_tool *t, const char *a) {
  void (*print)(const fi_tool *) = NULL;
  if (!strcmp(a, "--progress") || !strcmp(a, "--no-progress")) {
    progress_flag = a[2] == 'p';
    return 1;
  }
  if (!strcmp(a, "--help")) print = print_help;
  else if (!strcmp(a, "--help-man")) print = fi_opts_print_man;
  else if (!strcmp(a, "--help-completion")) print = fi_opts_print_completion;
  else if (!strcmp(a, "--version") && !strncmp(t->name, "fastif", 6)) printf("fastif %s\n", fi_version);
  else if (!strcmp(a, "--version")) printf("%s (fastif) %s\n", t->name, fi_version);
  else return 0;
  if (print) print(t);
  if (fflush(stdout) != 0 || ferror(stdout)) exit(1);
  exit(0);
}

int fi_parse_options(const fi_tool *t, int argc, char **argv) {
  cur = t;
  fi_set_progname(t->name);
  /* A closed pipe must surface as EPIPE from write() so the tool can say so
   * and exit 1, rather than vanish silently on SIGPIPE. */
  signal(SIGPIPE, SIG_IGN);
  check_table(t);
  for (const fi_opt *o = t->opts; o && o->name; o++) {
    memset(o->dest, 0, o->size); /* no default: 0, NULL, not auto */
    if (o->def) set_value(o, o->def, 1);
  }
  memset(given, 0, sizeof given);
  /* --help and usage errors exit from inside the loop: free at exit. */
  free(pos);
  pos = fi_calloc(argc + 1, sizeof *pos);
  static int registered;
  if (!registered) {
    atexit(free_pos);
    registered = 1;
  }
  int npos = 0, only_pos = 0;
  for (int i = 1; i < argc; i++) {
    char *a = argv[i];
    if (only_pos || a[0] != '-' || a[1] == 0) {
      pos[npos++] = a;
      if (t->stop_at_positional) only_pos = 1;
      continue;
    }
    if (!strcmp(a, "--")) {
      only_pos = 1;
      continue;
    }
    const fi_opt *o = NULL;
    const char *val = NULL;
    if (a[1] == '-') {
      const char *name = a + 2;
      const char *eq = strchr(name, '=');
      size_t len = eq ? (size_t)(eq - name) : strlen(name);
      if (!eq && builtin_option(t, a)) continue;
      for (const fi_opt *p = t->opts; p && p->name; p++)
        if (strlen(p->name) == len && !strncmp(p->name, name, len)) o = p;
      if (!o) fi_usage_error("unknown option '--%.*s'", (int)len, name);
      if (eq) val = eq + 1;
    } else {
      for (const fi_opt *p = t->opts; p && p->name; p++)
        if (p->short_name == a[1]) o = p;
      if (!o) fi_usage_error("unknown option '-%c'", a[1]);
      if (a[2]) val = a + 2;
    }
    if (o->kind == FI_OPT_FLAG) {
      if (val) fi_usage_error("--%s takes no value", o->name);
    } else if (!val) {
      char mvb[160];
      if (i + 1 >= argc) fi_usage_error("--%s needs a value (%s)", o->name, fi_opt_metavar(o, mvb, sizeof mvb));
      val = argv[++i];
    }
    set_value(o, val, 0);
    given[o - t->opts] = 1;
  }
  for (const fi_opt *o = t->opts; o && o->name; o++)
    if (o->required && !given[o - t->opts]) fi_usage_error("missing required option --%s", o->name);
  if (npos < t->positional_min || npos > t->positional_max) {
    if (t->positional_max == 0) fi_usage_error("unexpected argument '%s'", pos[0]);
    fi_usage_error("expected %d to %d arguments, got %d", t->positional_min, t->positional_max, npos);
  }
  int first = argc - npos;
  for (int i = 0; i < npos; i++) argv[first + i] = pos[i];
  /* FASTIF_PROGRESS=0|1 carries --no-progress/--progress to the steps of
   * a graph (fastif explain) */
  const char *env = getenv("FASTIF_PROGRESS");
  if (progress_flag < 0 && env && (!strcmp(env, "0") || !strcmp(env, "1"))) progress_flag = env[0] == '1';
  fi_progress_on = progress_flag >= 0 ? progress_flag : isatty(2);
  fi_progress("%s", ""); /* the clock runs from here: a silent computation still shows its time */
  return first;
}
