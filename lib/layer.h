/* layer.h - the layers a model is computed as, input first, each kind in
 * its own file behind the entry points of fi_layer_kind (layer_dense.c,
 * layer_embag.c), and the activations applied to a layer's output
 * (activation.c). model_compute.c runs the passes over the list; model.c
 * builds it from the architecture.
 *
 * A new layer kind is one file defining a fi_layer_kind, its line in the
 * registry at the end of this header, and the place in model.c's builder
 * where an architecture lists it. Gauss-Newton products need nothing more
 * from it: they are forward, rop, backward and grad (model_compute.c).
 *
 * Per layer and per example: x = the layer's input [in] (a kind that reads
 * the examples has none), z = its output [out] before the activation,
 * d = dLoss/dz ("delta"), and along a direction v of the selected
 * parameters R(.) = the directional derivative (Pearlmutter's R-operator),
 * rx = R(x), rz = R(z), rd = R(d). Batches are row-major [nb, width].
 * A vector over the selected parameters reaches a layer as blocks: b[j]
 * points at the layer's parameter j inside the vector, or is NULL when j
 * is not selected. */
#ifndef FI_LAYER_H
#define FI_LAYER_H
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include "util.h"

typedef struct fi_model fi_model;        /* model.h */
typedef struct fi_examples fi_examples;

#define FI_LAYER_PARAMS 2   /* parameter tensors of one layer, at most */
#define FI_PARAM_DIMS 4     /* dimensions of one parameter tensor, at most */

/* ---- activations: a = f(z) elementwise on a layer's output. The passes
 * keep a, not z, so the derivatives are written as functions of a. ---- */
typedef struct {
  const char *name;
  void (*apply)(float *z, int64_t n);                             /* z <- f(z) */
  /* d = f'(z) * dy (dy = dLoss/da, or R(z) in place for R(a)) */
  void (*backward)(const float *a, const float *dy, float *d, int64_t n);
  /* rd = f'(z) rdy + f''(z) R(z) dy, with R(a) = f'(z) R(z) given as ra
   * (rdy = R(dy)); NULL when f'' = 0, where rd = backward(rdy). */
  void (*rop_backward)(const float *a, const float *ra, const float *dy, const float *rdy,
                       float *rd, int64_t n);
} fi_activation;

/* ---- layers ---- */
typedef struct fi_layer_kind fi_layer_kind;

typedef struct {
  const fi_layer_kind *kind;
  const fi_activation *act;     /* applied to z; NULL = none */
  char name[24];                /* parameter names are name.SUFFIX */
  int64_t in, out;              /* widths of x and z (in: the bucket count for a bag) */
  int np;                       /* parameter tensors */
  int param[FI_LAYER_PARAMS];   /* their indices in the model's parameter list */
  float *p[FI_LAYER_PARAMS];    /* their data */
  int64_t numel[FI_LAYER_PARAMS];
} fi_layer;

/* A parameter tensor a kind declares (L2 applies to the .weight ones). */
typedef struct {
  const char *suffix;
  int ndim;
  int64_t shape[FI_PARAM_DIMS];
} fi_param_decl;

/* Grow-only scratch buffers a kind may use within a call (the workspace
 * keeps them, so warm calls allocate nothing). */
typedef struct {
  float *buf[2];
  size_t cap[2];
} fi_scratch;
static inline float *fi_scratch_get(fi_scratch *s, int which, size_t n) {
  if (n > s->cap[which]) {
    free(s->buf[which]);
    s->buf[which] = fi_aligned(n, sizeof(float));
    s->cap[which] = n;
  }
  return s->buf[which];
}

/* One layer within one pass over a batch. */
typedef struct {
  const fi_layer *l;
  const fi_model *m;
  const fi_examples *ex;
  const int64_t *rows;          /* example index of each batch row */
  int64_t nb;
  float *aux;                   /* [nb * kind->aux]: per-row values kept from forward */
  fi_scratch *scratch;
} fi_lctx;

/* The entry points. x: the layer's input (NULL for an input kind); r: the
 * blocks an L2 term l2*r[j] is added from on the weights (NULL: no term). */
struct fi_layer_kind {
  const char *name;
  int reads_examples;           /* the input layer: reads c->ex rows, has no x */
  int factored;                 /* per-example weight gradient = d x^T (grad --factored) */
  int aux;                      /* floats per row kept in c->aux */
  /* parameters for widths in -> out; returns their count */
  int (*declare)(int64_t in, int64_t out, fi_param_decl *p);
  void (*init)(const fi_layer *l, fi_rng *rng);                 /* fi_model_create */
  void (*forward)(const fi_lctx *c, const float *x, float *z);
  /* dx = (dz/dx)^T d: the delta passed down (not for input kinds) */
  void (*backward)(const fi_lctx *c, const float *d, float *dx);
  /* g[j] = alpha sum_i (dz_i/dp_j)^T d_i (+ l2 r[j] on weights), overwritten */
  void (*grad)(const fi_lctx *c, const float *x, const float *d, float alpha, float l2,
               const float *const *r, float *const *g);
  /* g[j] = row i's own gradient (+ l2 r[j] on weights) */
  void (*grad_row)(const fi_lctx *c, int64_t i, const float *x, const float *d, float l2,
                   const float *const *r, float *const *g);
  /* rz = sum_j (dz/dp_j) v[j] + (dz/dx) rx; rx NULL = zero */
  void (*rop)(const fi_lctx *c, const float *x, const float *rx, const float *const *v,
              float *rz);
  /* Hessian blocks: h[j] = R(g[j]) for g = alpha sum_i (dz_i/dp_j)^T d_i,
   * i.e. with the terms from rx and from v itself (rx NULL = zero), plus
   * l2 v[j] on weights */
  void (*rop_grad)(const fi_lctx *c, const float *x, const float *rx, const float *d,
                   const float *rd, float alpha, float l2, const float *const *v,
                   float *const *h);
  /* rdx = R(dx) = (dz/dx)^T rd + R(dz/dx)^T d (not for input kinds) */
  void (*rop_backward)(const fi_lctx *c, const float *d, const float *rd,
                       const float *const *v, float *rdx);
  /* scores[t*nb + i] -= g_i . S_t over the layer's blocks, where S_t's
   * block j starts at s[j] + t*P (g_i: row i's gradient, no L2) */
  void (*scores)(const fi_lctx *c, const float *x, const float *d, const float *const *s,
                 int64_t P, int T, float *scores);
};

/* ---- the registry ---- */
extern const fi_layer_kind fi_layer_dense;   /* layer_dense.c: z = W x + b */
extern const fi_layer_kind fi_layer_embag;   /* layer_embag.c: z = mean of table rows */
extern const fi_activation fi_act_tanh, fi_act_relu; /* activation.c */

#endif
