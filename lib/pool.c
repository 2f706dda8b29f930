/* pool.c - the job pool of pool.h: an atomic counter of the next job. */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "util.h"

struct shared {
  fi_job_fn fn;
  void *arg;
  int64_t njobs;
  atomic_llong next;
};
typedef struct {
  struct shared *sh;
  int thread;
} worker;

static void *work(void *p) {
  worker *a = p;
  for (;;) {
    long long j = atomic_fetch_add(&a->sh->next, 1);
    if (j >= a->sh->njobs) break;
    a->sh->fn(a->sh->arg, a->thread, j);
  }
  return NULL;
}

void fi_pool_run(int nthreads, int64_t njobs, fi_job_fn fn, void *arg) {
  struct shared sh = {.fn = fn, .arg = arg, .njobs = njobs};
  atomic_init(&sh.next, 0);
  if (nthreads > njobs) nthreads = (int)(njobs > 0 ? njobs : 1);
  if (nthreads <= 1) {
    worker a = {&sh, 0};
    work(&a);
    return;
  }
  pthread_t *th = fi_calloc(nthreads, sizeof *th);
  worker *ws = fi_calloc(nthreads, sizeof *ws);
  for (int t = 0; t < nthreads; t++) {
    ws[t].sh = &sh;
    ws[t].thread = t;
    if (t > 0 && pthread_create(&th[t], NULL, work, &ws[t]) != 0) fi_die("cannot create thread %d", t);
  }
  work(&ws[0]);
  for (int t = 1; t < nthreads; t++) pthread_join(th[t], NULL);
  free(th);
  free(ws);
}

int fi_pool_default_threads(void) {
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  if (cores < 1) cores = 1;
  long long jobs = 1;
  const char *e = getenv("FASTIF_JOBS");
  if (e && *e && (fi_parse_ll(e, &jobs) || jobs < 1))
    fi_die("FASTIF_JOBS='%s' is not a positive number of jobs", e);
  long n = cores / (jobs > cores ? cores : (long)jobs);
  return n > 1 ? (int)n : 1;
}
