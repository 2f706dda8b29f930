/* gemm.c - fi_gemm and fi_norm2 (gemm.h). */
#include "gemm.h"
#include <cblas.h>
#include <math.h>
#include <string.h>

double fi_norm2(const float *x, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
  return sqrt(s);
}

void fi_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
             int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
  if (M == 1) {
    /* C[0,:] = alpha op(B)^T x + beta C, x = op(A)[0,:] */
    if (beta == 0) memset(C, 0, (size_t)N * sizeof(float));
    int incx = ta ? (int)lda : 1;
    if (!tb) cblas_sgemv(CblasRowMajor, CblasTrans, (int)K, (int)N, alpha, B, (int)ldb, A, incx,
                         beta, C, 1);
    else cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)N, (int)K, alpha, B, (int)ldb, A, incx,
                     beta, C, 1);
  } else if (N == 1) {
    /* C[:,0] = alpha op(A) y + beta C, y = op(B)[:,0] */
    if (beta == 0)
      for (int64_t m = 0; m < M; m++) C[m * ldc] = 0;
    int incy = tb ? 1 : (int)ldb;
    if (!ta) cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)M, (int)K, alpha, A, (int)lda, B, incy,
                         beta, C, (int)ldc);
    else cblas_sgemv(CblasRowMajor, CblasTrans, (int)K, (int)M, alpha, A, (int)lda, B, incy,
                     beta, C, (int)ldc);
  } else if (K == 1 && (beta == 0 || beta == 1)) {
    /* rank-1: C = alpha a b^T (+ C) */
    if (beta == 0)
      for (int64_t m = 0; m < M; m++) memset(C + m * ldc, 0, (size_t)N * sizeof(float));
    cblas_sger(CblasRowMajor, (int)M, (int)N, alpha, A, ta ? 1 : (int)lda, B, tb ? (int)ldb : 1,
               C, (int)ldc);
  } else {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
  }
}
