/* activation.c - the activations of layer.h. Each is written once, as its
 * value f, its derivative (F_df: f'(z) x) and its second derivative (F_d2:
 * f''(z)/f'(z), so that f''(z) R(z) = F_d2 * R(a)), all as functions of
 * the output a = f(z); the batch loops come from ACTIVATION below. */
#include <math.h>
#include "layer.h"

#define ACTIVATION_LOOPS(F)                                                                    \
  static void F##_apply(float *z, int64_t n) {                                                 \
    for (int64_t e = 0; e < n; e++) z[e] = F##_f(z[e]);                                        \
  }                                                                                            \
  static void F##_backward(const float *a, const float *dy, float *d, int64_t n) {             \
    for (int64_t e = 0; e < n; e++) d[e] = F##_df(a[e], dy[e]);                                \
  }

/* ... and R(d) = f'(z) R(dy) + f''(z) R(z) dy, for curved activations */
#define ACTIVATION_ROP(F)                                                                      \
  static void F##_rop_backward(const float *a, const float *ra, const float *dy,               \
                               const float *rdy, float *rd, int64_t n) {                       \
    for (int64_t e = 0; e < n; e++) rd[e] = F##_df(a[e], rdy[e]) + F##_d2(a[e]) * ra[e] * dy[e]; \
  }

/* tanh: f' = 1 - a^2, f'' = -2a f' */
static inline float tanh_f(float z) { return tanhf(z); }
static inline float tanh_df(float a, float x) { return x * (1.0f - a * a); }
static inline float tanh_d2(float a) { return -2.0f * a; }
ACTIVATION_LOOPS(tanh)
ACTIVATION_ROP(tanh)
const fi_activation fi_act_tanh = {"tanh", tanh_apply, tanh_backward, tanh_rop_backward};

/* relu: f' = [a > 0], f'' = 0 (a select, so no 0 * inf terms) */
static inline float relu_f(float z) { return z > 0 ? z : 0; }
static inline float relu_df(float a, float x) { return a > 0 ? x : 0.0f; }
ACTIVATION_LOOPS(relu)
const fi_activation fi_act_relu = {"relu", relu_apply, relu_backward, NULL};
