/* ihvp_run.h - a run of the ihvp tool (formats/ihvp.md) in three calls:
 * fi_ihvp_setup (ihvp_setup.c) chooses the source of C (the model's
 * Hessian or Gauss-Newton matrix over a training set, the empirical Fisher
 * of training gradients, a curvature file, or none for identity) and the
 * solver, loads them, probes the scale and sets the shift;
 * fi_ihvp_solve_stream (ihvp_solve.c) reads the test vectors group by
 * group, solves, measures each answer's residual and writes its record
 * (the default ridge's probe over C, exact's eigendecomposition or cg's
 * Lanczos, runs there, once the first group is read and fits: an empty or
 * mismatched input is refused before that cost);
 * fi_ihvp_report logs the quality of the run. The library knows no flag
 * names: errors come back as values whose kind the tool turns into advice
 * in its own terms, and the few log lines that name a setting take the
 * tool's names for it (fi_ihvp_names). */
#ifndef FI_IHVP_RUN_H
#define FI_IHVP_RUN_H
#include <stdint.h>

#include "solve.h"
#include "stream.h"
#include "util.h"

/* Which curvature of a model: auto = its default (fi_model_default_curvature). */
typedef enum { FI_IHVP_HESSIAN_AUTO, FI_IHVP_HESSIAN_FULL, FI_IHVP_HESSIAN_GGN } fi_ihvp_hessian;

/* The caller's names of the settings its log lines and messages mention. */
typedef struct {
  const char *label, *params;          /* the test vectors' (test_vectors.h) */
  const char *shift, *damping;         /* the absolute ridge; the relative one */
  const char *auto_seconds, *max_exact; /* method auto's limits */
} fi_ihvp_names;

typedef struct {
  /* C: model + train (the model oracle), fisher (training gradient
   * records), curvature (a curvature file, its own inverse), or none of
   * them with a solver that needs no oracle (identity). */
  const char *model, *train, *fisher, *curvature;
  int train_rows_file;         /* the training inputs in a temp file (model.h, FI_ROWS_FILE) */
  const char *train_index;     /* its stream index (example_index.h): NULL = the sidecar when usable */
  int train_no_index;          /* read the whole training stream even with an index there */
  const fi_solver *solver;     /* NULL: auto, exact when it takes about auto_seconds or less, else lissa */
  fi_ihvp_hessian hessian;
  double auto_seconds;
  /* the solvers' settings; so.c.scale is ignored with scale_auto, and
   * so.c.shift is the ridge when so.c.absolute, else so.c.damping is */
  fi_solve_opts so;
  int scale_auto, scale_batches, scale_iters;
  double curv_damping;         /* curvature: lambda = curv_damping x each block's mean eigenvalue */
  int factored_s;              /* curvature (kfac or ekfac): s in factored form */
  int threads;
  int64_t group, chunk;        /* vectors solved together; examples per full-batch pass */
  const char *params, *label;  /* the parameter selection; "gold" or "pred" */
  int pred_label, from_examples;
  const char *mean_id;         /* NULL, or one vector, the mean of the input's, with this id */
  int64_t residual_n;          /* the residual's product over at most this many examples (0: all) */
  double residual_warn;        /* a record above it counts as bad */
  fi_ihvp_names names;
} fi_ihvp_settings;

/* Why a run stopped, with what the tool's advice needs. */
typedef enum {
  FI_IHVP_OK = 0,
  FI_IHVP_ERR_SETTING,   /* e: a setting does not fit (fi_opt_fail names its flag) */
  FI_IHVP_ERR_SCALE,     /* se: the scale probe failed */
  FI_IHVP_ERR_RIDGE,     /* se: the automatic ridge's probe failed */
  FI_IHVP_ERR_SOLVE,     /* se: the solve of a group failed */
  FI_IHVP_ERR_RESIDUAL,  /* se (FI_SOLVE_NONFINITE): an answer's product is not finite (msg names the record) */
  FI_IHVP_ERR_FACTORED,  /* factored_s without a kfac or ekfac curvature file, or with a model or a mean */
} fi_ihvp_fail;
typedef struct {
  fi_ihvp_fail kind;
  fi_err e;
  fi_solve_error se;
  fi_solve_common ridge;  /* the scale, damping and shift in use */
  char oracle[64];        /* what C is ("Hessian"), for messages */
} fi_ihvp_error;

typedef struct fi_ihvp_run fi_ihvp_run;

/* The run of st (which must outlive it), everything loaded and logged; NULL
 * with er filled on a setting that does not fit, a failed scale probe or
 * factored_s without a kfac or ekfac file. (A failed ridge probe comes
 * from fi_ihvp_solve_stream.) */
fi_ihvp_run *fi_ihvp_setup(const fi_ihvp_settings *st, fi_ihvp_error *er);
/* Reads the test vectors of r, solves them in groups and writes their
 * records to w, measuring each answer's residual; or, with factored_s, one
 * pass of factored records. Returns the number of records written, or -1
 * with er filled. Dies on an empty input (an upstream failure) and on bad
 * records. */
long long fi_ihvp_solve_stream(fi_ihvp_run *run, fi_reader *r, fi_writer *w, fi_ihvp_error *er);

/* The quality of a run, for the tool's warning. */
typedef struct {
  long long n, nbad;        /* records written; with a residual above residual_warn */
  double worst;             /* the largest residual (-1: none measured) */
  const char *worst_id;     /* its record (valid until fi_ihvp_free) */
  const fi_solver *solver;  /* the method that ran */
} fi_ihvp_summary;
/* Logs the input records and the solve time, and the residuals' max and
 * mean (and the largest spread of the repeats) when they were measured;
 * fills *q. Nothing for a factored run. */
void fi_ihvp_report(const fi_ihvp_run *run, fi_ihvp_summary *q);

void fi_ihvp_free(fi_ihvp_run *run);

#endif
