/* ihvp_records.h - the ihvp tool's methods as records (formats/ihvp.md):
 * the settings of a solve, solving a group of vectors with the chosen
 * method (the lissa, cg and exact solvers of lissa.h, or hvp: the product
 * H v itself), writing each result as a record that carries its settings,
 * and --combine: averaging LiSSA records whose repeats were split over
 * processes. */
#ifndef FI_IHVP_RECORDS_H
#define FI_IHVP_RECORDS_H
#include <stdint.h>

#include "lissa.h"
#include "stream.h"

typedef struct {
  const char *method;      /* "lissa", "cg", "exact" or "hvp" */
  fi_lissa_opts lissa;     /* lissa's settings; .scale, .damping and .seed are recorded by all */
  double shift;            /* damping * scale: cg and exact solve (H + shift I) s = v */
  double tol;              /* cg */
  int64_t max_iter;        /* cg */
  int64_t max_exact;       /* exact: largest P */
  const char *params, *label; /* recorded as given */
  const char *hessian;     /* "ggn" is recorded; NULL or "full" (the default) is not */
} fi_ihvp_opts;

/* S [m, P] from V [m, P] (the vectors of records ids[0..m), named in
 * errors) with opt->method over the oracle. Returns cg's largest iteration
 * count (0 for the other methods). */
int64_t fi_ihvp_solve(const fi_oracle *o, const fi_ihvp_opts *opt, int64_t m, const float *V,
                      float *S, const char *const *ids);
/* One record for vector s [P]: {id, ihvp, method, [hessian,] <method's
 * settings>, scale, damping, shift, seed, params, label, sum_of}, or for hvp
 * {id, hvp, method, [hessian,] params, label}. cg_iters: fi_ihvp_solve's
 * answer. */
void fi_ihvp_write(fi_writer *w, const char *id, const float *s, int64_t P,
                   const fi_ihvp_opts *opt, int64_t cg_iters);

/* --combine in two steps: read the LiSSA records of files[0..nfiles)
 * (none: stdin), grouped by id (dies on another method, settings that
 * differ within an id, or overlapping repeats); then write, per id in order
 * of first appearance, their average weighted by sum_of, summed in double
 * in repeat order: T single-repeat records (offsets 0..T-1) give exactly
 * the bits of one --repeats T run. The write frees c and returns the
 * number of records written. */
typedef struct fi_ihvp_parts fi_ihvp_parts;
fi_ihvp_parts *fi_ihvp_combine_read(int nfiles, char *const *files);
long long fi_ihvp_combine_write(fi_ihvp_parts *c, fi_writer *w);

#endif
