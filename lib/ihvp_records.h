/* ihvp_records.h - ihvp records (formats/ihvp.md): writing a solve's
 * result as a record that carries its settings, --combine (averaging
 * LiSSA records whose repeats were split over processes), and loading a
 * file of them for influence. */
#ifndef FI_IHVP_RECORDS_H
#define FI_IHVP_RECORDS_H
#include <stdint.h>

#include "solve.h"
#include "stream.h"

/* What an ihvp record says besides its vector. */
typedef struct {
  const fi_solver *solver;    /* the method (solve.h) */
  const fi_solve_opts *opt;   /* its settings */
  const char *params, *label; /* recorded as given */
  const char *hessian;        /* "ggn" is recorded; NULL or "full" (the default) is not */
} fi_ihvp_meta;

/* The measured quality of one record's answer (formats/ihvp.md,
 * "Quality"); a negative value is not measured and not written. */
typedef struct {
  double residual;      /* ||(C + shift I) s - v|| / ||v|| */
  int64_t residual_n;   /* training examples of its product */
  double spread;        /* relative spread of the repeats averaged (T > 1) */
} fi_ihvp_quality;

/* One record for vector s [P]: {id, ihvp, method, [hessian,] <the method's
 * fields>, [scale, damping,] shift, seed, params, label, sum_of,
 * [residual, residual_n,] [spread]}, or for a method that does not solve
 * (hvp) {id, hvp, method, [hessian,] params, label}. info: what the solve
 * of its group reported; q: NULL, or what was measured. */
void fi_ihvp_write_q(fi_writer *w, const char *id, const float *s, int64_t P,
                     const fi_ihvp_meta *meta, const fi_solve_info *info,
                     const fi_ihvp_quality *q);
/* The same without a quality report. */
void fi_ihvp_write(fi_writer *w, const char *id, const float *s, int64_t P,
                   const fi_ihvp_meta *meta, const fi_solve_info *info);

/* --combine in two steps: read the LiSSA records of files[0..nfiles)
 * (none: stdin), grouped by id (dies on another method, settings that
 * differ within an id, or overlapping repeats); then write, per id in order
 * of first appearance, their average weighted by sum_of, summed in double
 * in repeat order: T single-repeat records (offsets 0..T-1) give exactly
 * the bits of one --repeats T run, spread included. The parts' residuals
 * do not give the average's (that needs v): combined records have none.
 * The write frees c and returns the number of records written. */
typedef struct fi_ihvp_parts fi_ihvp_parts;
fi_ihvp_parts *fi_ihvp_combine_read(int nfiles, char *const *files);
long long fi_ihvp_combine_write(fi_ihvp_parts *c, fi_writer *w);

/* ---- reading: the ihvp records of one file, for influence ---- */
/* The ihvp records of one file: S [T, P], row t = s_test of ids[t]. */
typedef struct {
  int64_t T, P;
  char **ids;
  float *S;
  char *params;     /* their common "params", or NULL */
  char *path;       /* the file, for messages */
} fi_ihvps;

/* Load every record of path ("ihvp" f32[P] each, equal P and "params").
 * Dies on a duplicate id, differing params, or no records. */
void fi_ihvps_load(fi_ihvps *h, const char *path);
void fi_ihvps_free(fi_ihvps *h);
/* Row of id, or -1. */
int64_t fi_ihvps_find(const fi_ihvps *h, const char *id);

#endif
