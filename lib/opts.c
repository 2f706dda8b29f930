/* opts.c - parse argv from a declarative table; generate --help from it. */
#include "opts.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static const fi_tool *cur;
static char given[128];    /* given[i]: option i appeared on the command line */
static int progress_flag;
static char **pos;          /* positional arguments, freed at exit */

static void free_pos(void) { free(pos); }

static const char *metavar(const fi_opt *o) {
  if (o->metavar) return o->metavar;
  switch (o->type) {
  case FI_OPT_INT: return "INT";
  case FI_OPT_DOUBLE: return "NUM";
  case FI_OPT_STR: return "STR";
  case FI_OPT_CHOICE: return o->choices;
  default: return "";
  }
}

static void print_help(const fi_tool *t) {
  printf("%s - %s\n\nusage: %s %s\n\noptions:\n", t->name, t->purpose, t->name, t->usage);
  for (const fi_opt *o = t->opts; o && o->name; o++) {
    char lhs[96];
    const char *mv = metavar(o);
    if (o->short_name)
      snprintf(lhs, sizeof lhs, "-%c, --%s%s%s", o->short_name, o->name, *mv ? " " : "", mv);
    else
      snprintf(lhs, sizeof lhs, "    --%s%s%s", o->name, *mv ? " " : "", mv);
    printf("  %-30s %s", lhs, o->help ? o->help : "");
    if (o->required)
      printf(" (required)");
    else if (o->help && strstr(o->help, "(default:"))
      ; /* the help text says its default itself */
    else if (o->type == FI_OPT_FLAG)
      printf(" (default: off)");
    else
      printf(" (default: %s)", o->def ? o->def : "none");
    printf("\n");
  }
  printf("  %-30s %s\n", "    --progress", "show progress on stderr (default: on when stderr is a terminal)");
  printf("  %-30s %s\n", "    --help", "print this help and exit");
  if (t->details) printf("\n%s\n", t->details);
}

static int in_choices(const char *choices, const char *v) {
  size_t n = strlen(v);
  for (const char *p = choices; p && *p;) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (len == n && !strncmp(p, v, n)) return 1;
    p = bar ? bar + 1 : NULL;
  }
  return 0;
}

/* Store value text into the destination; from_default says who to blame. */
static void set_value(const fi_opt *o, const char *v, int from_default) {
  const char *who = from_default ? "default of " : "";
  switch (o->type) {
  case FI_OPT_FLAG: *(int *)o->dest = 1; return;
  case FI_OPT_STR: *(const char **)o->dest = v; return;
  case FI_OPT_CHOICE:
    if (!in_choices(o->choices, v)) fi_usage_error("%s--%s must be one of %s, not '%s'", who, o->name, o->choices, v);
    *(const char **)o->dest = v;
    return;
  case FI_OPT_INT: {
    long long x;
    if (fi_parse_ll(v, &x)) fi_usage_error("%s--%s expects an integer, not '%s'", who, o->name, v);
    if (o->min < o->max && (x < o->min || x > o->max))
      fi_usage_error("--%s must be between %.0f and %.0f, not %lld", o->name, o->min, o->max, x);
    *(long long *)o->dest = x;
    return;
  }
  case FI_OPT_DOUBLE: {
    double x;
    if (fi_parse_double(v, &x)) fi_usage_error("%s--%s expects a number, not '%s'", who, o->name, v);
    if (o->min < o->max && (x < o->min || x > o->max))
      fi_usage_error("--%s must be between %g and %g, not %g", o->name, o->min, o->max, x);
    *(double *)o->dest = x;
    return;
  }
  default: return;
  }
}

int fi_opt_given(const char *name) {
  if (!cur) return 0;
  int i = 0;
  for (const fi_opt *o = cur->opts; o && o->name; o++, i++)
    if (!strcmp(o->name, name)) return given[i];
  return 0;
}

int fi_parse_options(const fi_tool *t, int argc, char **argv) {
  cur = t;
  fi_set_progname(t->name);
  /* A closed pipe must surface as EPIPE from write() so the tool can say so
   * and exit 1, rather than vanish silently on SIGPIPE. */
  signal(SIGPIPE, SIG_IGN);
  int nopts = 0;
  for (const fi_opt *o = t->opts; o && o->name; o++, nopts++) {
    if ((size_t)nopts >= sizeof given) fi_die("too many options in table");
    if (o->type == FI_OPT_FLAG)
      *(int *)o->dest = 0;
    else if (o->def)
      set_value(o, o->def, 1);
    else if (o->type == FI_OPT_STR || o->type == FI_OPT_CHOICE)
      *(const char **)o->dest = NULL; /* no default: callers test for NULL */
    else if (o->type == FI_OPT_INT)
      *(long long *)o->dest = 0;
    else if (o->type == FI_OPT_DOUBLE)
      *(double *)o->dest = 0;
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
      if (len == 4 && !strncmp(name, "help", 4)) {
        print_help(t);
        if (fflush(stdout) != 0 || ferror(stdout)) exit(1);
        exit(0);
      }
      if (len == 8 && !strncmp(name, "progress", 8)) {
        progress_flag = 1;
        continue;
      }
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
    if (o->type == FI_OPT_FLAG) {
      if (val) fi_usage_error("--%s takes no value", o->name);
    } else if (!val) {
      if (i + 1 >= argc) fi_usage_error("--%s needs a value (%s)", o->name, metavar(o));
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
  fi_progress_on = progress_flag || isatty(2);
  return first;
}
