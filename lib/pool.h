/* pool.h - a job pool: jobs [0, njobs) pulled by up to nthreads threads
 * (the calling thread is one of them), each call told its thread index so
 * it can use per-thread memory. The solvers run their (vector, repeat),
 * vector or column jobs on it. */
#ifndef FI_POOL_H
#define FI_POOL_H
#include <stdint.h>

typedef void (*fi_job_fn)(void *arg, int thread, int64_t job);

/* Runs fn(arg, thread, j) for every j in [0, njobs) and returns when all
 * are done. Jobs are handed out in increasing order; which thread runs
 * which job is up to the scheduler, so results must not depend on it.
 * Uses min(nthreads, njobs) threads (at least 1); dies if a thread cannot
 * be created. */
void fi_pool_run(int nthreads, int64_t njobs, fi_job_fn fn, void *arg);

/* The default thread count of a tool's --threads 0: the online cores
 * divided by $FASTIF_JOBS (the jobs a GNU parallel fan-out runs side by
 * side on this host, exported by pipelines/fanout-*.sh; unset = 1), at
 * least 1. So k jobs on c cores use c/k threads each, not c each. */
int fi_pool_default_threads(void);

#endif
