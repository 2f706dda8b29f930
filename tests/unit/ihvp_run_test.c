/* ihvp_run_test.c - the ihvp run of lib/ihvp_run.h driven as a library,
 * with no tool and no option table: over the empirical Fisher of layer-
 * factor training gradients (one layer, in 5, out 3, with bias: P = 18),
 * exact and cg answers satisfy (F + shift I) s = v for the F this test
 * builds densely from the gradients, and their records' residual is that
 * residual; identity writes each test record's dense gradient; the
 * failures come back as values (kind, setting, solver status) whose
 * messages name no flag. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "grad_records.h"
#include "ihvp_run.h"
#include "stream.h"
#include "tap.h"
#include "util.h"

enum { IN = 5, OUT = 3, P = OUT * IN + OUT, NTRAIN = 40, NTEST = 3 };

/* Record k's rank-2 factors, and its dense gradient g [P]: the weight
 * sum_t delta_t a_t^T row-major, then the bias sum_t delta_t. */
static void factors(int k, float *a, float *d, double *g) {
  for (int i = 0; i < 2 * IN; i++) a[i] = (float)((k * 7 + i * 3) % 11) / 4 - 1;
  for (int i = 0; i < 2 * OUT; i++) d[i] = (float)((k * 5 + i * 2) % 7) / 3 - 1;
  memset(g, 0, P * sizeof *g);
  for (int t = 0; t < 2; t++)
    for (int o = 0; o < OUT; o++) {
      for (int i = 0; i < IN; i++) g[o * IN + i] += (double)d[t * OUT + o] * a[t * IN + i];
      g[OUT * IN + o] += d[t * OUT + o];
    }
}

static void write_grads(const char *path, int k0, int n) {
  float a[2 * IN], d[2 * OUT];
  double g[P];
  fi_writer *w = fi_writer_open(path);
  for (int k = k0; k < k0 + n; k++) {
    factors(k, a, d, g);
    char id[32];
    snprintf(id, sizeof id, "r%d", k);
    const fi_grad_factor f = {.name = "l", .r = 2, .in = IN, .out = OUT, .a = a, .delta = d};
    fi_grad_write_factored(w, id, "gold", 0, "l.weight,l.bias", 1, &f);
  }
  fi_writer_close(w);
}

/* One run of st over the test records into out; returns its records or -1 (er). */
static long long run_once(const fi_ihvp_settings *st, const char *test, const char *out,
                          fi_ihvp_error *er, fi_ihvp_summary *q) {
  fi_ihvp_run *run = fi_ihvp_setup(st, er);
  if (!run) return -1;
  fi_reader *r = fi_reader_open(test);
  fi_writer *w = fi_writer_open(out);
  long long n = fi_ihvp_solve_stream(run, r, w, er);
  fi_reader_close(r);
  if (n >= 0) fi_ihvp_report(run, q);
  fi_writer_close(w);
  fi_ihvp_free(run);
  return n;
}

/* The largest ||(F + shift I) s - v|| / ||v|| over out's records with F
 * from the training gradients; *field_err gets the largest difference to
 * the records' own "residual" (0 when they carry none: want_field 0). */
static double check(const char *out, double shift, int want_field, double *field_err, int *nrec) {
  static double G[NTRAIN][P];
  float a[2 * IN], d[2 * OUT];
  for (int k = 0; k < NTRAIN; k++) factors(k, a, d, G[k]);
  double worst = 0;
  *field_err = 0;
  *nrec = 0;
  fi_reader *r = fi_reader_open(out);
  for (const fi_record *rec; (rec = fi_read(r)); ++*nrec) {
    const float *s;
    if (fi_rec_f32(rec, "ihvp", P, &s, 1) != P) return 1e9;
    double v[P], Fs[P] = {0}, c[NTRAIN] = {0}, num = 0, den = 0;
    factors(NTRAIN + *nrec, a, d, v);
    for (int k = 0; k < NTRAIN; k++)
      for (int j = 0; j < P; j++) c[k] += G[k][j] * s[j];
    for (int k = 0; k < NTRAIN; k++)
      for (int j = 0; j < P; j++) Fs[j] += G[k][j] * c[k] / NTRAIN;
    for (int j = 0; j < P; j++) {
      const double e = Fs[j] + shift * s[j] - v[j];
      num += e * e;
      den += v[j] * v[j];
    }
    const double res = sqrt(num / den);
    worst = fmax(worst, res);
    double field = -1;
    if (fi_rec_double(rec, "residual", &field, 0) != want_field) return 1e9;
    if (want_field) *field_err = fmax(*field_err, fabs(field - res));
  }
  fi_reader_close(r);
  return worst;
}

/* The largest relative difference of out's s to each test record's dense gradient. */
static double check_identity(const char *out) {
  float a[2 * IN], d[2 * OUT];
  double v[P], worst = 0;
  fi_reader *r = fi_reader_open(out);
  int t = 0;
  for (const fi_record *rec; (rec = fi_read(r)); t++) {
    const float *s;
    fi_rec_f32(rec, "ihvp", P, &s, 1);
    factors(NTRAIN + t, a, d, v);
    double num = 0, den = 0;
    for (int j = 0; j < P; j++) num += (s[j] - v[j]) * (s[j] - v[j]), den += v[j] * v[j];
    worst = fmax(worst, sqrt(num / den));
  }
  fi_reader_close(r);
  return t == NTEST ? worst : 1e9;
}

int main(void) {
  char dir[] = "/tmp/fi-ihvp-run-test.XXXXXX", train[64], test[64], out[64];
  if (!mkdtemp(dir)) return 1;
  snprintf(train, sizeof train, "%s/train", dir);
  snprintf(test, sizeof test, "%s/test", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  write_grads(train, 0, NTRAIN);
  write_grads(test, NTRAIN, NTEST);
  const fi_ihvp_settings base = {
      .fisher = train, .hessian = FI_IHVP_HESSIAN_AUTO, .auto_seconds = 1,
      .so = {.c = {.shift = 0.1, .absolute = 1, .seed = 1},
             .lissa = {.depth = 100, .batch = 1, .repeats = 1},
             .cg = {.tol = 1e-7, .max_iter = 1000},
             .exact = {.max_p = 4000}},
      .scale_auto = 1, .scale_batches = 4, .scale_iters = 10, .threads = 1, .group = 2, .chunk = 7,
      .params = "default", .label = "gold", .residual_n = 0, .residual_warn = 0.1,
      .names = {.label = "LABEL", .params = "PARAMS", .shift = "SHIFT", .damping = "DAMPING", .auto_seconds = "AUTO",
                .max_exact = "MAX"}};
  fi_ihvp_error er;
  fi_ihvp_summary q;
  double ferr;
  int n;
  const fi_solver *solvers[] = {&fi_solver_exact, &fi_solver_cg, NULL};
  for (int i = 0; solvers[i]; i++) {
    fi_ihvp_settings st = base;
    st.solver = solvers[i];
    long long nout = run_once(&st, test, out, &er, &q);
    double res = check(out, 0.1, 1, &ferr, &n);
    ok(nout == NTEST && n == NTEST && res < 1e-5,
       "fisher %s: (F + 0.1 I) s = v for F built here from the gradients (residual %.3g, %d records)",
       solvers[i]->name, res, n);
    ok(ferr < 1e-5 && q.n == NTEST && q.nbad == 0 && q.worst < 1e-5 && q.solver == solvers[i],
       "... the records' residual is that residual (off by %.2g), the summary says %lld records, "
       "none above 0.1", ferr, q.n);
  }
  fi_ihvp_settings st = base;
  st.solver = &fi_solver_lissa;
  st.residual_warn = 0; /* every answer above it */
  long long nout = run_once(&st, test, out, &er, &q);
  double res = check(out, 0.1, 1, &ferr, &n);
  ok(nout == NTEST && ferr < 1e-5 && q.nbad == NTEST && fabs(q.worst - res) < 1e-5,
     "fisher lissa (depth 100): the records' residual %.3g is the one built here, all %lld counted "
     "above residual_warn 0", res, q.nbad);

  st = base;
  st.fisher = NULL;
  st.solver = &fi_solver_identity;
  nout = run_once(&st, test, out, &er, &q);
  ok(nout == NTEST && check_identity(out) < 1e-6 && q.worst == -1,
     "identity, no model, no oracle: s is each record's dense gradient, no residual");

  /* Failures as values: the kind, the library's name of the setting or the
   * solver's status, and a message without flag names. */
  st = base;
  st.solver = &fi_solver_cg;
  st.so.cg.max_iter = 1;
  nout = run_once(&st, test, out, &er, &q);
  ok(nout == -1 && er.kind == FI_IHVP_ERR_SOLVE && er.se.status == FI_SOLVE_NO_CONVERGENCE &&
         !strstr(er.se.msg, "--") && er.ridge.shift == 0.1 && !strcmp(er.oracle, "empirical Fisher"),
     "cg stopped at max_iter 1: FI_IHVP_ERR_SOLVE, no convergence, with the ridge and what C is "
     "(%s; %s)", er.se.msg, er.oracle);
  st = base;
  st.solver = &fi_solver_lissa;
  st.scale_auto = 0; /* no scale: lissa's recursion cannot contract */
  nout = run_once(&st, test, out, &er, &q);
  ok(nout == -1 && er.kind == FI_IHVP_ERR_SETTING && er.e.setting && !strcmp(er.e.setting, "scale") &&
         !strstr(er.e.msg, "--"),
     "lissa without a scale: FI_IHVP_ERR_SETTING naming the setting 'scale' (%s)", er.e.msg);
  st = base;
  st.factored_s = 1;
  ok(fi_ihvp_setup(&st, &er) == NULL && er.kind == FI_IHVP_ERR_FACTORED,
     "factored s without a curvature file: FI_IHVP_ERR_FACTORED before anything is loaded");
  unlink(train);
  unlink(test);
  unlink(out);
  rmdir(dir);
  return done_testing();
}
