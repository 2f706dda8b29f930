/* grad_group.h - the layer factors of a group of gradient records
 * (grad_records.h), kept past the read (a view lasts until the next one)
 * so a consumer can work on the rows of many records at once instead of
 * their dense vectors: ihvp --curvature rotates them (curvature_inverse.c).
 * Per layer, the group's rows are stacked in record order. */
#ifndef FI_GRAD_GROUP_H
#define FI_GRAD_GROUP_H
#include <stdint.h>

#include "grad_records.h"

typedef struct fi_grad_group fi_grad_group;

/* An empty group over the layout L (which must outlive it). */
fi_grad_group *fi_grad_group_new(const fi_grad_layout *L);
void fi_grad_group_free(fi_grad_group *g);
void fi_grad_group_clear(fi_grad_group *g);
/* Appends the factor rows of the record read into v (fi_grad_read). */
void fi_grad_group_add(fi_grad_group *g, const fi_grad_view *v);
int64_t fi_grad_group_n(const fi_grad_group *g);
const fi_grad_layout *fi_grad_group_layout(const fi_grad_group *g);
/* All rows of layer l: r = the group's total, a [r, in], delta [r, out];
 * *row0 [n + 1]: record s's rows are row0[s] .. row0[s + 1] - 1. Valid
 * until the next add or clear. */
fi_grad_rows fi_grad_group_layer(const fi_grad_group *g, int l, const int64_t **row0);
/* Record s's rows of layer l, likewise. */
fi_grad_rows fi_grad_group_rows(const fi_grad_group *g, int l, int64_t s);

#endif
