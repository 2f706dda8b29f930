/* opts_test.c - the option machinery (lib/opts.c): each kind writes exactly
 * its destination's width, choices arrive as indices, number-or-auto, range
 * and syntax errors exit 2 naming the flag, a table whose destination
 * disagrees with its kind is refused, and library errors (fi_err) are
 * reported naming the flag that carries the setting. Exits and messages are
 * checked in a child process. */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "opts.h"
#include "tap.h"

/* Each destination sits between guard words that must survive parsing. */
static struct {
  uint64_t g0;
  int i;
  uint64_t g1;
  int64_t l;
  uint64_t g2;
  uint64_t u;
  double d;
  fi_num_auto na;
  int c, flag;
  const char *s;
  uint64_t g3;
} v;
#define GUARD 0xa5a5a5a5a5a5a5a5ull

static const char *const colours[] = {"red", "green", "blue", NULL};
static const fi_opt rows[] = {
    FI_INT("int", 'i', &v.i, "7", "an int", .min = -5, .max = 100),
    FI_I64("long", 0, &v.l, "1", "an int64"),
    FI_U64("seed", 's', &v.u, "3", "a seed"),
    FI_DOUBLE("x", 0, &v.d, "0.5", "a number", .min = 0, .max = 1),
    FI_NUM_AUTO("scale", 0, &v.na, "auto", "a number or auto", .min = 0, .max = 1e300, .above_min = 1),
    FI_CHOICE("colour", 0, &v.c, "green", colours, "a colour"),
    FI_FLAG("flag", 'f', &v.flag, "a flag"),
    FI_STR("name", 0, &v.s, NULL, "a name", .setting = "libname"),
    {0}};
static const fi_tool tool = {"opts_test", "test", "[options]", rows};

static int parse(int argc, const char **argv) {
  char *copy[16];
  for (int i = 0; i < argc; i++) copy[i] = (char *)argv[i];
  copy[argc] = NULL;
  v.g0 = v.g1 = v.g2 = v.g3 = GUARD;
  return fi_parse_options(&tool, argc, copy);
}

/* Runs f in a child; returns its exit status and its stderr in err. */
static int child(void (*f)(const void *), const void *arg, char *err, size_t n) {
  int p[2];
  if (pipe(p)) return -1;
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    dup2(p[1], 2);
    f(arg);
    exit(0);
  }
  close(p[1]);
  size_t got = 0;
  ssize_t k;
  while (got + 1 < n && (k = read(p[0], err + got, n - 1 - got)) > 0) got += (size_t)k;
  err[got] = 0;
  for (char *c = err; *c; c++)
    if (*c == '\n') *c = ' '; /* one TAP line */
  close(p[0]);
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void run_args(const void *a) {
  const char *const *args = a;
  int n = 0;
  while (args[n]) n++;
  parse(n, (const char **)args);
}

static void expect_usage(const char *what, const char *const *args, const char *needle) {
  char err[1024];
  int rc = child(run_args, args, err, sizeof err);
  ok(rc == 2 && strstr(err, needle), "%s: exit 2 naming '%s' (exit %d: %s)", what, needle, rc, err);
}

static const fi_opt bad_rows[] = {
    {.name = "narrow", .kind = FI_OPT_I64, .dest = &v.i, .size = sizeof v.i, .help = "int64 into an int"},
    {0}};
static void run_bad_table(const void *a) {
  const fi_tool t = {"opts_test", "test", "", bad_rows};
  char *argv[] = {"opts_test", NULL};
  fi_parse_options(&t, 1, argv);
}

static void run_fail(const void *a) {
  const char *args[] = {"opts_test", NULL};
  parse(1, args);
  fi_err e;
  fi_err_set(&e, *(const fi_err_kind *)a, "libname", "too long by %d", 3);
  fi_opt_fail(&e);
}

int main(void) {
  const char *defaults[] = {"opts_test", NULL};
  parse(1, defaults);
  ok(v.i == 7 && v.l == 1 && v.u == 3 && v.d == 0.5 && v.na.is_auto && v.c == 1 && !v.flag && !v.s,
     "defaults are parsed into their destinations");
  ok(!fi_opt_given("int") && !fi_opt_given("colour"), "defaults do not count as given");

  const char *args[] = {"opts_test", "-i", "-3", "--long=5000000000", "--seed", "18446744073709551615",
                        "--x", "1", "--scale", "2.5", "--colour", "blue", "-f", "--name", "n", NULL};
  parse(15, args);
  ok(v.i == -3 && v.l == 5000000000LL && v.u == UINT64_MAX, "int, int64 and uint64 values (%d %lld %llu)", v.i,
     (long long)v.l, (unsigned long long)v.u);
  ok(v.g0 == GUARD && v.g1 == GUARD && v.g2 == GUARD && v.g3 == GUARD, "no write beyond a destination's width");
  ok(!v.na.is_auto && v.na.value == 2.5, "number-or-auto takes a number");
  ok(v.c == 2 && !strcmp(fi_opt_choice("colour", v.c), "blue"), "a choice arrives as its index");
  ok(v.flag == 1 && !strcmp(v.s, "n") && fi_opt_given("int") && fi_opt_given("colour"), "flags, strings, given");

  expect_usage("int range", (const char *[]){"t", "--int", "101", NULL}, "--int must be between -5 and 100");
  expect_usage("int width", (const char *[]){"t", "--int", "4294967296", NULL}, "--int");
  expect_usage("uint64 refuses a sign", (const char *[]){"t", "--seed", "-1", NULL}, "--seed expects an integer >= 0");
  expect_usage("auto excludes 0", (const char *[]){"t", "--scale", "0", NULL}, "--scale must be above 0 (or auto)");
  expect_usage("auto or a number", (const char *[]){"t", "--scale", "big", NULL}, "--scale expects a number or 'auto'");
  expect_usage("choices", (const char *[]){"t", "--colour", "pink", NULL}, "--colour must be one of red|green|blue");
  expect_usage("non-finite number", (const char *[]){"t", "--x", "nan", NULL}, "--x expects a number");

  char err[1024];
  int rc = child(run_bad_table, NULL, err, sizeof err);
  ok(rc == 1 && strstr(err, "--narrow stores 4 bytes, its kind needs 8"), "a row whose destination is too narrow "
     "is refused (exit %d: %s)", rc, err);
  fi_err_kind k = FI_ERR_USAGE;
  rc = child(run_fail, &k, err, sizeof err);
  ok(rc == 2 && strstr(err, "opts_test: --name: too long by 3"), "a library usage error names the flag of its "
     "setting (exit %d: %s)", rc, err);
  k = FI_ERR_DATA;
  rc = child(run_fail, &k, err, sizeof err);
  ok(rc == 1 && strstr(err, "opts_test: error: --name: too long by 3"), "a data error exits 1 naming the flag "
     "(exit %d: %s)", rc, err);
  printf("1..%d\n", tap_n);
  return tap_failed != 0;
}
