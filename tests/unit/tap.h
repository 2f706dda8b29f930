/* tap.h - minimal TAP producer for C unit tests (run by prove). */
#ifndef FI_TAP_H
#define FI_TAP_H
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int tap_n, tap_failed;

static int tap_ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3), unused));
static int tap_ok(int cond, const char *fmt, ...) {
  va_list ap;
  printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  fflush(stdout);
  if (!cond) tap_failed++;
  return cond;
}
#define ok(...) tap_ok(__VA_ARGS__)

/* |got - want| <= tol * max(1, |want|) */
static int tap_close(double got, double want, double tol, const char *what) __attribute__((unused));
static int tap_close(double got, double want, double tol, const char *what) {
  double scale = fabs(want) > 1 ? fabs(want) : 1;
  int c = fabs(got - want) <= tol * scale;
  tap_ok(c, "%s: got %.9g want %.9g (tol %g)", what, got, want, tol);
  return c;
}
#define is_close(g, w, t, what) tap_close((g), (w), (t), (what))

static void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static void tap_diag(const char *fmt, ...) {
  va_list ap;
  printf("# ");
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
}
#define diag(...) tap_diag(__VA_ARGS__)

static int done_testing(void) __attribute__((unused));
static int done_testing(void) {
  printf("1..%d\n", tap_n);
  return tap_failed ? 1 : 0;
}
#endif
