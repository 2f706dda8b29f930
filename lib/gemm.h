/* gemm.h - row-major C = alpha op(A) op(B) + beta C through BLAS, for the
 * layer kinds, and the vector norm of the solvers and optimisers. */
#ifndef FI_GEMM_H
#define FI_GEMM_H
#include <stdint.h>

/* ta/tb: transpose A/B. The degenerate shapes of batch-1 calls (LiSSA) go
 * to gemv/ger, which OpenBLAS runs with much less overhead than sgemm. */
void fi_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
             int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* Euclidean norm, accumulated in double (the same on every BLAS build,
 * unlike snrm2). */
double fi_norm2(const float *x, int64_t n);

#endif
