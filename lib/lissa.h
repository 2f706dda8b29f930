/* lissa.h - inverse Hessian-vector products over an HVP oracle
 * (formats/ihvp.md). Three solvers with one fixed point, so their answers are
 * comparable:  s = (H + shift*I)^-1 v,  shift = damping * scale.
 *   lissa: FastIF's stochastic recursion on mini-batch HVPs, T repeats;
 *   cg:    conjugate gradients on full-batch HVPs (Koh & Liang);
 *   exact: dense H from P full-batch HVPs, symmetric eigendecomposition
 *          (LAPACK dsyevd, double), correct for indefinite H too.
 * The solvers only see the oracle, so they are tested on synthetic problems
 * and used on models through fi_model_oracle (lib/hvp_model.c). */
#ifndef FI_LISSA_H
#define FI_LISSA_H
#include <stdint.h>
#include "oracle.h"

typedef struct {
  int64_t depth;          /* J: recursion steps per repeat */
  int64_t batch;          /* B: training examples per step (drawn with replacement) */
  int64_t repeats;        /* T: independent repeats averaged */
  int64_t repeat_offset;  /* first repeat index: repeats r0..r0+T-1 */
  double scale;           /* must exceed ~half the batch Hessians' top eigenvalue */
  double damping;
  uint64_t seed;
} fi_lissa_opts;

/* Seed of repeat r: a fixed function of (seed, r) only, so repeat r gives
 * the same result in any process, thread or order. */
uint64_t fi_lissa_repeat_seed(uint64_t seed, int64_t r);

/* Solves m right-hand sides V [m, P] -> S [m, P] with LiSSA. Jobs
 * (vector, repeat) run on the oracle's threads; each repeat's float result
 * depends only on its seed, and the T results are summed in double in repeat
 * order, so S is bitwise independent of the thread count. A batch of more
 * than N draws is evaluated in pieces of N (memory follows the data, not
 * the batch size). Dies with advice (naming --scale / --damping, and the vector:
 * ids[i], or its index when ids is NULL) when a repeat diverges: when its
 * iterate is not finite, or grows faster than the at most linear growth of
 * a converging recursion (formats/ihvp.md, "Divergence"). */
void fi_lissa_solve(const fi_oracle *o, const fi_lissa_opts *opt, int64_t m,
                    const float *V, float *S, const char *const *ids);

/* Largest |eigenvalue| of the batch Hessians found by power iteration on
 * `nbatches` random batches of size `batch` (iters steps each; batches and
 * start vectors drawn from seed). A lower bound on the true maximum. */
double fi_top_eigenvalue(const fi_oracle *o, int64_t batch, int nbatches,
                         int iters, uint64_t seed);
/* Safety factor applied to the estimate by --scale auto. */
#define FI_SCALE_SAFETY 2.0
/* --scale auto: FI_SCALE_SAFETY x fi_top_eigenvalue, logged with its
 * search; dies when the batch Hessians look zero. */
double fi_lissa_auto_scale(const fi_oracle *o, int64_t batch, int nbatches, int iters,
                           uint64_t seed);

/* CG on (H + shift I) x = v for each of m vectors (threads over vectors).
 * Stops when ||r|| <= tol ||v||; dies on negative curvature, a non-finite
 * HVP or when max_iter is reached. iters_out (may be NULL) gets the largest iteration count. */
void fi_cg_solve(const fi_oracle *o, double shift, double tol, int64_t max_iter,
                 int64_t m, const float *V, float *S, int64_t *iters_out);

/* Dense symmetric H (P x P, double, row-major) from P full-batch HVPs on the
 * oracle's threads, symmetrised as (H + H^T)/2; dies if an entry is not
 * finite. */
double *fi_dense_hessian(const fi_oracle *o);
/* Exact solve with (H + shift I): eigendecomposition once, then m vectors;
 * eigenvalues below FI_EXACT_RCOND x the largest are treated as zero
 * (pseudo-inverse, logged). Dies if P > max_p.
 * eig_min/eig_max (may be NULL) get the extreme eigenvalues of H. */
#define FI_EXACT_RCOND 1e-6
void fi_exact_solve(const fi_oracle *o, double shift, int64_t max_p, int64_t m,
                    const float *V, float *S, double *eig_min, double *eig_max);

#endif
