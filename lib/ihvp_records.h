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
  /* --combine: the largest residual of the parts averaged, a bound of the
   * average's (written when parts_residual_n > 0: the examples of their
   * products) */
  double parts_residual_max;
  int64_t parts_residual_n;
} fi_ihvp_quality;

/* One record for vector s [P]: {id, ihvp, method, [hessian,] <the method's
 * fields>, [scale, damping,] shift, seed, params, label, sum_of,
 * [residual, residual_n,] [spread,] [parts_residual_max, parts_residual_n]}, or for a method that does not solve
 * (hvp) {id, hvp, method, [hessian,] params, label}. info: what the solve
 * of its group reported; q: NULL, or what was measured. */
void fi_ihvp_write_q(fi_writer *w, const char *id, const float *s, int64_t P,
                     const fi_ihvp_meta *meta, const fi_solve_info *info,
                     const fi_ihvp_quality *q);
/* The same without a quality report. */
void fi_ihvp_write(fi_writer *w, const char *id, const float *s, int64_t P,
                   const fi_ihvp_meta *meta, const fi_solve_info *info);

/* A record of ihvp --curvature (curvature.h): {id, ihvp, method
 * "curvature", curvature (its fitting method), damping (relative) or shift
 * (absolute), blocks (names), shifts (f64, the lambda used per block),
 * params, label, sum_of 1}. */
typedef struct {
  const char *kind;           /* kfac, ekfac or diag */
  int absolute;               /* shift given (else damping x each block's mean eigenvalue) */
  double damping, shift;
  int nblocks;
  const char *const *blocks;  /* [nblocks] */
  const double *lam;          /* [nblocks] */
  const char *params, *label;
} fi_ihvp_curv_meta;
void fi_ihvp_write_curvature(fi_writer *w, const char *id, const float *s, int64_t P,
                             const fi_ihvp_curv_meta *cm);

/* A factored ihvp record (ihvp --curvature --factored-s): the fields of
 * fi_ihvp_write_curvature without "ihvp", plus "factored": 1, "gammas"
 * (f64 [nl, 2]: the ridge of A and of G per layer) and per layer NAME
 * s_a.NAME f32 [r, k] and s_delta.NAME f32 [r, out] (S = sum_u s_delta_u
 * s_a_u^T, [out, k], bias last column), per dense part s.PNAME f32. */
typedef struct {
  const char *name;
  int64_t r, k, out;
  const float *sa, *sd;
} fi_ihvp_factor;
typedef struct {
  const char *pname;
  int64_t numel;
  const float *s;
} fi_ihvp_dense_part;
void fi_ihvp_write_factored(fi_writer *w, const char *id, const fi_ihvp_curv_meta *cm, int nl,
                            const fi_ihvp_factor *f, const double *gammas, int nd,
                            const fi_ihvp_dense_part *d);

/* --combine in two steps: read the LiSSA records of files[0..nfiles)
 * (none: stdin), grouped by id (dies on another method, settings that
 * differ within an id, or overlapping repeats); then write, per id in order
 * of first appearance, their average weighted by sum_of, summed in double
 * in repeat order: T single-repeat records (offsets 0..T-1) give exactly
 * the bits of one --repeats T run, spread included. The parts' residuals
 * do not give the average's (that needs v): a combined record has none,
 * but carries the parts' largest (a bound of it: the triangle inequality)
 * as parts_residual_max, when every part has one (a residual, or a
 * parts_residual_max of its own) over the same residual_n. The write frees
 * c and returns the number of records written. */
typedef struct fi_ihvp_parts fi_ihvp_parts;
fi_ihvp_parts *fi_ihvp_combine_read(int nfiles, char *const *files);
long long fi_ihvp_combine_write(fi_ihvp_parts *c, fi_writer *w);

/* ---- reading: the ihvp records of one file, for influence ---- */
/* The factored form (formats/ihvp.md, the ihvp --factored-s contract): per
 * factored layer NAME, S_t = sum_u s_delta_u s_a_u^T ([out, in+b]: weight
 * columns, then the bias column when NAME.bias is in params); any other
 * parameter dense as s.PNAME. Parts follow params, as in gradient records. */
typedef struct {
  char *name;             /* layer NAME */
  int64_t in, out;        /* s_a's width is in + bias */
  int weight, bias;       /* the parts of NAME.weight / NAME.bias, or -1 */
  int64_t *off;           /* [T+1]: test t's rows are off[t] .. off[t+1) */
  float *sa, *sd;         /* [off[T], in+bias], [off[T], out] */
} fi_ihvp_flayer;
typedef struct {
  char *pname;
  int layer;              /* a factored layer's weight or bias, or -1: dense */
  int64_t off, numel;     /* its place in the dense vector */
  float *s;               /* dense part: [T, numel] (s.PNAME of each record) */
} fi_ihvp_fpart;
typedef struct {
  int nparts, nlayers;
  fi_ihvp_fpart *parts;
  fi_ihvp_flayer *layers;
} fi_ihvp_factors;

/* The ihvp records of one file: S [T, P], row t = s_test of ids[t]; or,
 * for records in the factored form, F (and S NULL). */
typedef struct {
  int64_t T, P;
  char **ids;
  float *S;
  char *params;     /* their common "params", or NULL */
  char *path;       /* the file, for messages */
  fi_ihvp_factors *F;
} fi_ihvps;

/* Load every record of path ("ihvp" f32[P] each, equal P and "params"; or
 * all in the factored form, with equal params and widths; a record with
 * both forms is read by its factors). Dies on a duplicate id, differing
 * params or widths, or no records. */
void fi_ihvps_load(fi_ihvps *h, const char *path);
/* Test t's values of part i of a factored h (F's parts), into out[numel]. */
void fi_ihvps_part(const fi_ihvps *h, int64_t t, int i, float *out);
/* Fill S [T, P] of a factored h from its factors (no-op when S exists). */
void fi_ihvps_densify(fi_ihvps *h);
void fi_ihvps_free(fi_ihvps *h);
/* Row of id, or -1. */
int64_t fi_ihvps_find(const fi_ihvps *h, const char *id);

#endif
