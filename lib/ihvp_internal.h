/* ihvp_internal.h - the state of an ihvp run (ihvp_run.h; not for tools), shared by its
 * setup (ihvp_setup.c) and its loop over the test vectors (ihvp_solve.c). */
#ifndef FI_IHVP_INTERNAL_H
#define FI_IHVP_INTERNAL_H
#include <stdint.h>

#include "curvature.h"
#include "fisher_oracle.h"
#include "ihvp_records.h"
#include "ihvp_run.h"
#include "model.h"
#include "example_index.h"
#include "model_oracle.h"
#include "test_vectors.h"

struct fi_ihvp_run {
  const fi_ihvp_settings *st;
  /* the source of C: at most one of the model oracle (m, tr, mo), the
   * Fisher oracle (fo) and the curvature file (cv) */
  fi_model *m;
  fi_psel ps;
  fi_examples *tr;
  fi_train_how tr_how;     /* how tr was opened (through an index or not) */
  char tr_why[512];
  fi_model_oracle *mo;
  fi_fisher_oracle *fo;
  fi_oracle o;             /* the solvers' view of C (identity: P alone) */
  int model_oracle;
  int ggn;                 /* the model's Gauss-Newton matrix in place of H */
  const fi_solver *sv;     /* the method that runs */
  fi_solve_opts so;        /* its settings, the scale and shift set */
  int ridge_pending;       /* the default ridge's probe is still to run (fi_ihvp_set_ridge) */
  int measured;            /* every answer's residual is measured (a solve over an oracle) */
  fi_curv *cv;
  fi_curv_ws *cws;
  double *lam;             /* cv's lambda per block */
  const char **bnames;     /* cv's block names */
  fi_ihvp_meta meta;       /* what every record says besides its vector */
  fi_ihvp_curv_meta cmeta; /* the same for a curvature file's records */
  /* the loop: its buffers, sized by the largest group read */
  fi_test_vectors *tv;
  float *S;
  double *res, *spread;
  int64_t scap;
  /* the quality over the run */
  double worst, worst_spread, sum_res, tsolve;
  char worst_id[128];
  long long nbad, nout;
  int64_t res_examples;
};

/* The ridge completed (--damping auto's probe over C, when a method has
 * one), checked (fi_solve_set_shift) and logged: in the setup, or, for a
 * probe, once the first vectors are read and fit (an empty or mismatched
 * input is refused before the probe's cost). */
fi_ihvp_fail fi_ihvp_set_ridge(fi_ihvp_run *run, fi_ihvp_error *er);

#endif
