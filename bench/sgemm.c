/* bench/sgemm.c - this machine's OpenBLAS sgemm rate, the ceiling the
 * influence path is compared with (formats/DESIGN.md, "Where the time goes").
 *
 * usage: sgemm THREADS [M N K] [SECONDS]
 * Runs C = A B^T (row-major, the influence path's NoTrans/Trans shape) of
 * M x K times (N x K)^T repeatedly for about SECONDS, best of 5 rounds, and
 * prints "gflops G". Default 2048 x 2048 x 2048. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 2 && argc != 5 && argc != 6) {
    fprintf(stderr, "usage: sgemm THREADS [M N K] [SECONDS]\n");
    return 2;
  }
  int th = atoi(argv[1]);
  long M = argc >= 5 ? atol(argv[2]) : 2048, N = argc >= 5 ? atol(argv[3]) : 2048,
       K = argc >= 5 ? atol(argv[4]) : 2048;
  double secs = argc == 6 ? atof(argv[5]) : 1.0;
  if (th < 1 || M < 1 || N < 1 || K < 1 || secs <= 0) {
    fprintf(stderr, "sgemm: bad arguments\n");
    return 2;
  }
  openblas_set_num_threads(th);
  float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * N * K),
        *C = malloc(sizeof(float) * M * N);
  if (!A || !B || !C) {
    fprintf(stderr, "sgemm: out of memory\n");
    return 1;
  }
  for (long i = 0; i < M * K; i++) A[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
  for (long i = 0; i < N * K; i++) B[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, A, (int)K, B,
              (int)K, 0.0f, C, (int)N); /* warm up */
  double best = 0, flop = 2.0 * M * N * K;
  for (int round = 0; round < 5; round++) {
    long reps = 0;
    double t0 = now(), t;
    do {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, A, (int)K,
                  B, (int)K, 0.0f, C, (int)N);
      reps++;
      t = now() - t0;
    } while (t < secs / 5);
    double g = flop * reps / t / 1e9;
    if (g > best) best = g;
  }
  printf("gflops %.1f\n", best);
  free(A);
  free(B);
  free(C);
  return 0;
}
