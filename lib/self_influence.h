/* self_influence.h - self-influence g_i^T (C + lambda)^-1 g_i of every
 * training gradient record under a fitted curvature (curvature.h), in one
 * pass, O(N): records are densified a group at a time and go through the
 * curvature's inverse together (its rotations are GEMMs over the group).
 * The answer is ONE scores record (formats/scores.md): id "self", ids the
 * training ids in input order, scores f32[N] (>= 0). */
#ifndef FI_SELF_INFLUENCE_H
#define FI_SELF_INFLUENCE_H
#include <stdint.h>

#include "curvature.h"
#include "stream.h"
#include "util.h"

/* Reads every gradient record of r, writes the self record to w; returns
 * the number of training records. Dies naming a bad record, or when r has
 * none; returns -1 with e set (FI_ERR_DATA, setting "curvature") when the
 * records are not over the curvature's parameters. */
int64_t fi_self_influence(const fi_curv *c, const double *lam, int64_t group, fi_reader *r,
                          fi_writer *w, fi_err *e);

#endif
