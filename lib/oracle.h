/* oracle.h - what the solvers see: a symmetric linear operator v -> C v of
 * length P over a training set of N examples, evaluated on any batch of
 * them. C is the curvature of a training objective: the model's Hessian or
 * Gauss-Newton matrix (model_oracle.h), or the empirical Fisher of a
 * gradient stream; the solvers (solve.h) know nothing else about it, so
 * they are tested on synthetic operators (tests/unit/lissa_test.c). */
#ifndef FI_ORACLE_H
#define FI_ORACLE_H
#include <stdint.h>

/* out = C_B v for the mean curvature over training examples idx[0..nb)
 * (idx NULL with nb == N: the full training set). ctx is the calling
 * thread's own context: the oracle may keep scratch memory in it. */
typedef void (*fi_apply_fn)(void *ctx, const int64_t *idx, int64_t nb, const float *v,
                            float *out);
/* OUT [k, P] = C_B V for k vectors V [k, P] at once: an oracle that can
 * share work between them (the model's forward pass) provides it. */
typedef void (*fi_apply_many_fn)(void *ctx, const int64_t *idx, int64_t nb, int64_t k,
                                 const float *V, float *OUT);

typedef struct {
  fi_apply_fn apply;
  fi_apply_many_fn apply_many; /* NULL: apply, vector by vector */
  void **ctx;        /* one context per thread: ctx[0..nthreads) */
  int nthreads;      /* >= 1; solvers use at most this many threads */
  int64_t P;         /* vector length */
  int64_t N;         /* training set size */
  const char *name;  /* what C is, in messages ("Hessian"); NULL reads "curvature" */
} fi_oracle;

/* The threads a solver may use, and the operator's name for messages. */
static inline int fi_oracle_threads(const fi_oracle *o) { return o->nthreads < 1 ? 1 : o->nthreads; }
static inline const char *fi_oracle_name(const fi_oracle *o) { return o->name ? o->name : "curvature"; }

#endif
