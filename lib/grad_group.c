/* grad_group.c - a group's layer factors, stacked per layer (grad_group.h). */
#include "grad_group.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct fi_grad_group {
  const fi_grad_layout *L;
  int64_t n, cap;        /* records; room in row0 */
  int64_t **row0;        /* per layer [cap + 1], row0[l][0] = 0 */
  float **a, **delta;    /* per layer [rcap, in], [rcap, out] */
  int64_t *rcap;         /* per layer: rows of room */
};

fi_grad_group *fi_grad_group_new(const fi_grad_layout *L) {
  fi_grad_group *g = fi_calloc(1, sizeof *g);
  const int nl = L->nlayers ? L->nlayers : 1;
  g->L = L;
  g->row0 = fi_calloc(nl, sizeof *g->row0);
  g->a = fi_calloc(nl, sizeof *g->a);
  g->delta = fi_calloc(nl, sizeof *g->delta);
  g->rcap = fi_calloc(nl, sizeof *g->rcap);
  return g;
}

void fi_grad_group_free(fi_grad_group *g) {
  if (!g) return;
  for (int l = 0; l < g->L->nlayers; l++) {
    free(g->row0[l]);
    free(g->a[l]);
    free(g->delta[l]);
  }
  free(g->row0);
  free(g->a);
  free(g->delta);
  free(g->rcap);
  free(g);
}

void fi_grad_group_clear(fi_grad_group *g) { g->n = 0; }
int64_t fi_grad_group_n(const fi_grad_group *g) { return g->n; }
const fi_grad_layout *fi_grad_group_layout(const fi_grad_group *g) { return g->L; }

/* A copy of the first `used` rows of x [*, width] in room for cap rows. */
static float *regrow(float *x, int64_t used, int64_t cap, int64_t width) {
  float *y = fi_aligned(fi_mul_size(cap, width > 0 ? width : 1, "factor rows"), sizeof(float));
  if (used) memcpy(y, x, (size_t)(used * width) * sizeof *y);
  free(x);
  return y;
}

void fi_grad_group_add(fi_grad_group *g, const fi_grad_view *v) {
  const fi_grad_layout *L = g->L;
  if (g->n + 1 > g->cap) { /* doubling: the group size is the caller's, not known here */
    int64_t cap = g->cap ? 2 * g->cap : 16;
    for (int l = 0; l < L->nlayers; l++) {
      int64_t *r0 = fi_calloc(cap + 1, sizeof *r0);
      if (g->row0[l]) memcpy(r0, g->row0[l], (size_t)(g->n + 1) * sizeof *r0);
      free(g->row0[l]);
      g->row0[l] = r0;
    }
    g->cap = cap;
  }
  for (int l = 0; l < L->nlayers; l++) {
    const fi_grad_layer *gl = &L->layers[l];
    const fi_grad_rows *x = &v->layer[l];
    const int64_t R = g->row0[l][g->n];
    if (R + x->r > g->rcap[l]) {
      int64_t rc = g->rcap[l] ? 2 * g->rcap[l] : 64;
      while (rc < R + x->r) rc *= 2;
      g->a[l] = regrow(g->a[l], R, rc, gl->in);
      g->delta[l] = regrow(g->delta[l], R, rc, gl->out);
      g->rcap[l] = rc;
    }
    if (x->r) {
      memcpy(g->a[l] + R * gl->in, x->a, (size_t)(x->r * gl->in) * sizeof(float));
      memcpy(g->delta[l] + R * gl->out, x->delta, (size_t)(x->r * gl->out) * sizeof(float));
    }
    g->row0[l][g->n + 1] = R + x->r;
  }
  g->n++;
}

fi_grad_rows fi_grad_group_layer(const fi_grad_group *g, int l, const int64_t **row0) {
  *row0 = g->row0[l];
  return (fi_grad_rows){.r = g->n ? g->row0[l][g->n] : 0, .a = g->a[l], .delta = g->delta[l]};
}

fi_grad_rows fi_grad_group_rows(const fi_grad_group *g, int l, int64_t s) {
  const fi_grad_layer *gl = &g->L->layers[l];
  const int64_t r0 = g->row0[l][s];
  return (fi_grad_rows){.r = g->row0[l][s + 1] - r0, .a = g->a[l] + r0 * gl->in,
                        .delta = g->delta[l] + r0 * gl->out};
}
