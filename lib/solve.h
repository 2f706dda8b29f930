/* solve.h - inverse products s = (C + shift*I)^-1 v over an oracle
 * (oracle.h, formats/ihvp.md), one file per method behind one table:
 *   lissa (solve_lissa.c): FastIF's stochastic recursion on mini-batch
 *          products, T repeats;
 *   cg    (solve_cg.c):    conjugate gradients on full-batch products;
 *   exact (solve_exact.c): dense C from P full-batch products, symmetric
 *          eigendecomposition (LAPACK dsyevd, double), correct for
 *          indefinite C too;
 *   hvp   (solve_hvp.c):   no solve: the full-batch product C v itself.
 *   identity (solve_identity.c): s = v, the gradient-dot-product baseline.
 * Every solver has the same fixed point, so their answers are comparable:
 *   s = (C + shift*I)^-1 v,  shift = damping * scale.
 * The scale estimate of --scale auto is in solve_scale.c; the default
 * ridge (--damping auto), chosen per method, in solve_ridge.c.
 *
 * A new method is one file defining a fi_solver (its solve function and the
 * record fields it adds), its line in the registry at the end of this
 * header and in fi_solvers[] (solve.c), and, when it has settings of its
 * own, their struct in fi_solve_opts. */
#ifndef FI_SOLVE_H
#define FI_SOLVE_H
#include <stdint.h>

#include "oracle.h"
#include "stream.h"
#include "util.h"

/* Settings every method shares. */
typedef struct {
  double scale;      /* LiSSA's step scale; the unit of damping (0: not needed, not known) */
  double damping;    /* relative ridge: shift / scale */
  double shift;      /* the ridge every method adds */
  int absolute;      /* the shift was given itself (not as damping * scale) */
  int auto_ridge;    /* the default ridge: fi_solve_auto_ridge chooses it */
  uint64_t seed;     /* the stochastic methods' draws */
} fi_solve_common;

typedef struct {
  int64_t depth;          /* J: recursion steps per repeat */
  int64_t batch;          /* B: training examples per step (drawn with replacement) */
  int64_t repeats;        /* T: independent repeats averaged */
  int64_t repeat_offset;  /* first repeat index: repeats r0..r0+T-1 */
} fi_lissa_opts;

typedef struct {
  double tol;             /* stop at ||r|| <= tol ||v|| */
  int64_t max_iter;
} fi_cg_opts;

typedef struct fi_exact_eig fi_exact_eig;
typedef struct {
  int64_t max_p;          /* refuse larger P (the dense matrix is P x P doubles) */
  fi_exact_eig *eig;      /* NULL, or C's eigendecomposition, made once (by the auto
                             ridge) for every group's solve; fi_exact_eig_free */
} fi_exact_opts;

typedef struct {
  fi_solve_common c;
  fi_lissa_opts lissa;
  fi_cg_opts cg;
  fi_exact_opts exact;
} fi_solve_opts;

/* What a solve of one group of vectors reports, for its records. */
typedef struct {
  int64_t iters;          /* cg: the largest iteration count of the group */
  int64_t sum_of;         /* estimates averaged per vector (lissa: repeats; else 1) */
  double *spread;         /* in: NULL, or [m] for the relative spread of each vector's
                             repeats (lissa with T > 1 fills it; a method without repeats
                             sets the pointer to NULL) */
} fi_solve_info;

/* Why a solve failed: the kind decides the advice the caller gives (in its
 * own terms: flag names are the tool's), msg says what happened. */
typedef enum {
  FI_SOLVE_OK = 0,
  FI_SOLVE_DIVERGED,      /* lissa: the recursion grows (scale too small, or damping) */
  FI_SOLVE_INDEFINITE,    /* cg: non-positive curvature along a search direction */
  FI_SOLVE_NO_CONVERGENCE,/* cg: max_iter reached above tol */
  FI_SOLVE_TOO_LARGE,     /* exact: P above max_p */
  FI_SOLVE_NONFINITE,     /* the operator is not finite on the training data */
  FI_SOLVE_ZERO,          /* the scale probe found only zero eigenvalues */
} fi_solve_status;
typedef struct {
  fi_solve_status status;
  char msg[640];
} fi_solve_error;
/* Sets err (status and printf-style message); returns the status. */
fi_solve_status fi_solve_fail(fi_solve_error *err, fi_solve_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* S [m, P] from V [m, P] (the vectors of records ids[0..m), or NULL: named
 * by index in messages). Returns FI_SOLVE_OK, or the failure (with err
 * filled) when the method fails for one of the vectors. */
typedef fi_solve_status (*fi_solve_fn)(const fi_oracle *o, const fi_solve_opts *opt, int64_t m,
                                       const float *V, float *S, const char *const *ids,
                                       fi_solve_info *info, fi_solve_error *err);
/* The record fields the method adds after "method" (ihvp_records.c). */
typedef void (*fi_fields_fn)(fi_writer *w, const fi_solve_opts *opt, const fi_solve_info *info);
/* The method's default ridge: sets opt->c.shift from the spectrum of o's
 * operator, logging the rule and what it found; may keep what it computed
 * in opt (exact: the eigendecomposition). */
typedef fi_solve_status (*fi_ridge_fn)(const fi_oracle *o, fi_solve_opts *opt, fi_solve_error *err);

typedef struct {
  const char *name;       /* --method NAME, and the records' "method" */
  fi_solve_fn solve;
  fi_fields_fn fields;    /* NULL: none */
  int solves;             /* 0: writes a product ("hvp"), no scale/damping/shift/seed */
  int recursion;          /* LiSSA's recursion: damping is the contraction, below 1 */
  int no_oracle;          /* 1: the solve uses only o->P (identity): no curvature is built */
  fi_ridge_fn ridge;      /* the default ridge of a method without a recursion; NULL: shift 0 */
  /* What the method computes once over C for every group's solve, kept in
   * opt (exact: C's eigendecomposition, if the ridge has not made it); NULL:
   * nothing. Fails as the solve would (too large, not finite). */
  fi_ridge_fn prepare;
} fi_solver;

/* The method called name, or NULL. */
const fi_solver *fi_solver_find(const char *name);

/* Method auto: exact when its estimated time is at most `seconds` (and P
 * at most max_p), otherwise lissa, whose answer the caller checks by its
 * residual. The estimate is FI_EXACT_SECONDS x N x P^2 (the dense operator:
 * P full-batch products over N examples, in blocks sharing the forward
 * pass) + FI_EXACT_EIG_SECONDS x P^3 (dsyevd), in CPU seconds (user + sys:
 * the machine is shared, wall time is not the cost). Fitted 2026-12-02 on
 * this 2-core machine (measured under load) to `/usr/bin/time ihvp --model
 * lin.model --train tr.mp --method exact --damping 0 < te.mp` on synthetic
 * 10-class softmax regressions, P = 650, 1290, 2570 at N = 10,000 and P =
 * 3850 at N = 2000 and 10 (formats/ihvp.md, "--method auto", has the
 * table). *est gets the estimate. */
#define FI_EXACT_SECONDS 1.1e-10
#define FI_EXACT_EIG_SECONDS 2.1e-10
const fi_solver *fi_solver_auto(int64_t N, int64_t P, int64_t max_p, double seconds, double *est);

/* The one check of the shared settings, at the library's entry: completes
 * c for method sv. c->absolute = 0: shift = damping * scale; 1: c->shift
 * was given and damping = shift / scale (scale 0, allowed for a method
 * without a recursion: damping 0, not used). Fails (fi_err setting "damping"
 * or "shift", "scale") when the shift is negative or not finite, or for a
 * recursion (lissa) when scale is not positive or damping >= 1: its step
 * would not contract. The solvers do not check again. */
int fi_solve_set_shift(const fi_solver *sv, fi_solve_common *c, fi_err *e);

/* ---- the default ridge, --damping auto (solve_ridge.c, formats/ihvp.md) ----
 * Chosen per method so that the default answer is the undamped one
 * wherever the method can reach it:
 *   lissa: damping FI_LISSA_DAMPING of the scale (its recursion contracts
 *          by 1 - damping per step, so it needs one);
 *   exact: shift = fi_ridge_psd_shift(lambda_min, lambda_max) of C's
 *          eigendecomposition: 0 for a positive semi-definite C, whose null
 *          space the pseudo-inverse cuts; -lambda_min for an indefinite C;
 *   cg:    the same from a Lanczos probe of the full-batch operator (fixed
 *          start vector), plus (lambda_max + a) / (kappa - 1), kappa =
 *          fi_cg_kappa(max_iter, tol): the condition number CG is
 *          guaranteed to solve to tol within max_iter steps;
 *   others (identity): shift 0.
 * Nothing depends on --seed. */
#define FI_LISSA_DAMPING 0.005
/* c->auto_ridge set: completes the ridge for method sv over oracle o (NULL:
 * no curvature), before fi_solve_set_shift: a recursion gets damping
 * FI_LISSA_DAMPING (c->absolute = 0), any other method an absolute shift
 * (c->absolute = 1). Fails when the probe does (a non-finite product, P
 * above max_p for exact). */
fi_solve_status fi_solve_auto_ridge(const fi_solver *sv, const fi_oracle *o, fi_solve_opts *opt,
                                    fi_solve_error *err);
/* Whether c's ridge needs LiSSA's scale for method sv: the recursion does,
 * and damping * scale does; an absolute or automatic shift does not. */
int fi_solve_needs_scale(const fi_solver *sv, const fi_solve_common *c);
/* The least shift that makes a symmetric matrix with extreme eigenvalues
 * lo <= hi positive semi-definite: -lo, or 0 when lo >= -FI_EXACT_RCOND x
 * max(|lo|, |hi|) (a negative eigenvalue at rounding level is a zero). */
double fi_ridge_psd_shift(double lo, double hi);
/* CG's bound ||e_k|| <= 2 ((sqrt k - 1)/(sqrt k + 1))^k ||e_0|| ~ 2 exp(-2k/sqrt kappa)
 * reaches tol within max_iter steps for kappa up to (2 max_iter / ln(2/tol))^2
 * (tol floored at 1e-15); at least 2. */
double fi_cg_kappa(int64_t max_iter, double tol);
/* Lanczos steps and start vector of cg's probe. */
#define FI_RIDGE_LANCZOS_STEPS 60
#define FI_RIDGE_PROBE_SEED 0x71d9e5eedULL
/* The extreme eigenvalues lo <= hi of o's full-batch operator from `steps`
 * Lanczos steps (fewer when an invariant subspace is found; *done gets the
 * count, may be NULL) from a start vector drawn from seed: both are inside
 * the spectrum and converge to its ends from within (the top end fastest).
 * Fails when a product is not finite. */
fi_solve_status fi_lanczos_extremes(const fi_oracle *o, int steps, uint64_t seed, double *lo,
                                    double *hi, int *done, fi_solve_error *err);

/* ---- the registry ---- */
extern const fi_solver fi_solver_lissa, fi_solver_cg, fi_solver_exact, fi_solver_hvp,
    fi_solver_identity;
extern const fi_solver *const fi_solvers[];  /* NULL-terminated, solve.c */

/* ---- shared by the solver files ---- */
/* Seed of repeat (or probe) r: a fixed function of (seed, r) only, so
 * repeat r gives the same result in any process, thread or order. */
uint64_t fi_lissa_repeat_seed(uint64_t seed, int64_t r);
/* B indices in [0, N), uniform with replacement. */
void fi_draw_batch(fi_rng *rng, int64_t N, int64_t B, int64_t *idx);
/* The full-batch product out = C v with thread `thread`'s context. */
void fi_apply_full(const fi_oracle *o, int thread, const float *v, float *out);
/* "record 'ID'" or "vector I" into buf, for messages. */
const char *fi_vector_name(char *buf, size_t len, const char *const *ids, int64_t i);

/* ---- the methods' entry points, for direct use (tests) ---- */
/* LiSSA over m vectors. Jobs (vector, repeat) run on the oracle's threads;
 * each repeat's float result depends only on its seed, and the T results
 * are summed in double in repeat order, so S is bitwise independent of the
 * thread count. A batch of more than N draws is evaluated in pieces of N
 * (memory follows the data, not the batch size). Dies with advice (naming
 * the scale and damping, and the vector) when a repeat diverges: when its
 * iterate is not finite, or grows faster than the at most linear growth
 * of a converging recursion (formats/ihvp.md, "Divergence"). */
fi_solve_status fi_lissa_solve(const fi_oracle *o, const fi_solve_opts *opt, int64_t m,
                               const float *V, float *S, const char *const *ids,
                               fi_solve_info *info, fi_solve_error *err);
/* CG on (C + shift I) x = v for each of m vectors (threads over vectors).
 * Stops when ||r|| <= tol ||v||; dies on non-positive curvature, a
 * non-finite product or when max_iter is reached. */
fi_solve_status fi_cg_solve(const fi_oracle *o, const fi_solve_opts *opt, int64_t m,
                            const float *V, float *S, const char *const *ids,
                            fi_solve_info *info, fi_solve_error *err);
/* Dense symmetric C (P x P, double, row-major) from P full-batch products
 * on the oracle's threads, symmetrised as (C + C^T)/2; NULL (err filled)
 * if an entry is not finite. */
double *fi_dense_operator(const fi_oracle *o, fi_solve_error *err);
/* Exact solve with (C + shift I): eigendecomposition once, then m vectors;
 * eigenvalues below FI_EXACT_RCOND x the largest are treated as zero
 * (pseudo-inverse, logged). Dies if P > max_p. eig_min/eig_max (may be
 * NULL) get the extreme eigenvalues of C. */
#define FI_EXACT_RCOND 1e-6
fi_solve_status fi_exact_solve_eig(const fi_oracle *o, double shift, int64_t max_p, int64_t m,
                                   const float *V, float *S, double *eig_min, double *eig_max,
                                   fi_solve_error *err);
/* The same in two steps: C's eigendecomposition once (NULL, err filled, when
 * P > max_p or C is not finite), then any number of solves with it; its
 * notes on the spectrum (the eigenvalues the shift dominates, cut or
 * negative) are logged once per shift. */
fi_exact_eig *fi_exact_eig_new(const fi_oracle *o, int64_t max_p, fi_solve_error *err);
fi_solve_status fi_exact_eig_solve(fi_exact_eig *E, double shift, int64_t m, const float *V,
                                   float *S, fi_solve_error *err);
/* C's smallest and largest eigenvalue. */
void fi_exact_eig_range(const fi_exact_eig *E, double *lo, double *hi);
void fi_exact_eig_free(fi_exact_eig *E);

/* ---- the measured quality of a solve (solve_quality.c) ---- */
/* Above this relative residual the tool says the answer may be off. */
#define FI_RESIDUAL_WARN 0.1
/* The residual's product runs over at most this many training examples. */
#define FI_RESIDUAL_MAX_N 10000
/* res[i] = ||(C + shift I) s_i - v_i|| / ||v_i|| for S, V [m, P], from one
 * product each with C over the training set, or, when N > max_n (> 0),
 * over max_n evenly spaced examples (k N / max_n, k = 0..max_n-1). A zero
 * v_i gives 0 for s_i = 0, else 1; a non-finite product gives NaN. Returns
 * the number of examples the products ran over. */
int64_t fi_solve_residuals(const fi_oracle *o, double shift, int64_t max_n, int64_t m,
                           const float *V, const float *S, double *res);
/* The relative spread of T > 1 repeats r of one vector, from their sum
 * sum_r x_r (acc) and their sum of squared norms (ss), in double:
 * sqrt(sum_r ||x_r - mean||^2 / (T - 1)) / ||mean||. */
double fi_repeat_spread(const double *acc, double ss, int64_t T, int64_t P);

/* ---- the scale of --scale auto (solve_scale.c) ---- */
/* Largest |eigenvalue| of the batch operators found by power iteration on
 * `nbatches` random batches of size `batch` (iters steps each; batches and
 * start vectors drawn from seed). A lower bound on the true maximum; NaN
 * when a product is not finite. */
double fi_top_eigenvalue(const fi_oracle *o, int64_t batch, int nbatches, int iters,
                         uint64_t seed);
/* The probe's seed (batches and start vectors): fixed, so that the scale,
 * and with it the ridge damping * scale, depends on the model, the data and
 * the batch size only; --seed changes LiSSA's noise, not the system solved. */
#define FI_SCALE_PROBE_SEED 0x5eedca1eULL
/* Safety factor applied to the estimate by --scale auto. */
#define FI_SCALE_SAFETY 2.0
/* *scale = FI_SCALE_SAFETY x fi_top_eigenvalue, logged with its search;
 * fails when a product is not finite or the batch operators look zero. */
fi_solve_status fi_auto_scale(const fi_oracle *o, int64_t batch, int nbatches, int iters,
                              uint64_t seed, double *scale, fi_solve_error *err);

#endif
