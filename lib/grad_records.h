/* grad_records.h - gradient records (formats/gradients.md): the one place
 * that knows their keys. Written by grad (dense, or factored per layer);
 * read by every consumer (ihvp's test vectors, influence's training
 * stream) through a layout taken from the stream's first record, which
 * follows the layer-factor contract in general:
 *   grad       f32[P]: the whole dense vector (the dense form);
 *   otherwise `params` lists the parameters in the order of the dense
 *   vector, and each is either NAME.weight / NAME.bias of a layer NAME
 *   with a.NAME f32 [r, in] (or [in]: r = 1) and delta.NAME f32 [r, out]
 *   (weight gradient sum_t delta_t a_t^T [out, in] row-major, bias
 *   gradient sum_t delta_t), or travels dense as grad.PNAME.
 * Names are arbitrary (layers.0, encoder.layer.11.output.dense); in, out
 * and bias are read off the tensors and params, so no model is needed. */
#ifndef FI_GRAD_RECORDS_H
#define FI_GRAD_RECORDS_H
#include <stdint.h>

#include "stream.h"

/* ---- writing ---- */
/* {id, label_kind, label, params, grad f32[P]}. */
void fi_grad_write_dense(fi_writer *w, const char *id, const char *label_kind, int64_t label,
                         const char *params, const float *g, int64_t P);
/* One layer's factors for one record: a [r, in], delta [r, out]. */
typedef struct {
  const char *name;
  int64_t r, in, out;
  const float *a, *delta;
} fi_grad_factor;
/* {id, label_kind, label, params, a.NAME, delta.NAME, ...} for layers
 * f[0..nl), in that order; r = 1 is written as 1-D tensors. */
void fi_grad_write_factored(fi_writer *w, const char *id, const char *label_kind, int64_t label,
                            const char *params, int nl, const fi_grad_factor *f);

/* ---- reading ---- */
typedef enum { FI_GPART_DENSE, FI_GPART_WEIGHT, FI_GPART_BIAS } fi_gpart_kind;
typedef struct {
  char *pname;            /* the entry of params */
  fi_gpart_kind kind;     /* grad.PNAME, or a layer's weight or bias */
  int layer;              /* the layer of a weight or bias, else -1 */
  char *key;              /* "grad.PNAME" for a dense part */
  int64_t off, numel;     /* its place in the dense vector */
} fi_grad_part;
typedef struct {
  char *name;             /* layer NAME */
  char *akey, *dkey;      /* "a.NAME", "delta.NAME" */
  int64_t in, out;
  int weight, bias;       /* the parts of NAME.weight and NAME.bias, or -1 */
} fi_grad_layer;
typedef struct {
  char *params;           /* the records' "params", or NULL (a whole dense record may omit it) */
  int whole;              /* records carry the dense vector as "grad" */
  int nparts, nlayers;
  fi_grad_part *parts;
  fi_grad_layer *layers;
  int64_t P;              /* elements of the dense vector */
} fi_grad_layout;

/* The layer NAME of parameter "NAME.weight" / "NAME.bias" (kind set), or
 * NULL when the name has neither suffix. Returns a malloc'd NAME. */
char *fi_grad_param_layer(const char *pname, fi_gpart_kind *kind);
/* Whether rec is a gradient record: it has "grad", or "params" with a
 * factor or dense part for its first parameter. */
int fi_grad_is_record(const fi_record *rec);
/* The layout of rec's stream, read off rec; dies naming the record when a
 * parameter has neither factors nor a dense part, factors disagree, or the
 * dense vector would not have P elements (P < 0: any). */
fi_grad_layout *fi_grad_layout_new(const fi_record *rec, int64_t P);
void fi_grad_layout_free(fi_grad_layout *L);

/* One record read against the layout: the whole vector, or per layer its
 * rows and per dense part its values. Valid until the next read. */
typedef struct {
  int64_t r;
  const float *a, *delta;  /* [r, in], [r, out] */
} fi_grad_rows;
typedef struct {
  const float *g;          /* whole: [P] */
  fi_grad_rows *layer;     /* [nlayers] */
  const float **dense;     /* [nparts]: dense parts' values, NULL for factor parts */
} fi_grad_view;
fi_grad_view *fi_grad_view_new(const fi_grad_layout *L);
void fi_grad_view_free(fi_grad_view *v);
/* Reads rec into v; dies naming the record when it differs from the layout
 * (params, the form, in/out of a layer, a dense part's size, r of a and
 * delta). */
void fi_grad_read(const fi_grad_layout *L, const fi_record *rec, fi_grad_view *v);
/* The dense vector g [P] of the record in v. */
void fi_grad_densify(const fi_grad_layout *L, const fi_grad_view *v, float *g);
/* Only its dense parts (grad.PNAME) into g [P]; the layers' values are left
 * as they were. */
void fi_grad_copy_dense(const fi_grad_layout *L, const fi_grad_view *v, float *g);
/* The values [numel] of factored part i (a layer's weight or bias) from
 * that layer's rows x. */
void fi_grad_part_values(const fi_grad_layout *L, int i, const fi_grad_rows *x, float *out);

/* ---- provenance ----
 * A gradient record from grad says which label its loss used
 * ("label_kind": gold or pred) and over which tensors ("params"): both
 * must be what the consumer's vectors are over, or the product would mean
 * something else. Records without these fields (e.g. from PyTorch) are
 * taken at their word. */
typedef struct {
  const char *label_kind;   /* the kind wanted, or NULL: any */
  const char *label_opt;    /* the consumer's option that sets it ("--label"), or NULL ... */
  const char *label_fix;    /* ... then how the producer makes it ("grad --label") */
  const char *pnames;       /* the resolved names wanted, or NULL ... */
  const char *spec;         /* ... then a selection spec (default | all | names and prefixes) */
  const char *params_opt;   /* the consumer's option that selects them ("--params") */
} fi_grad_expect;
/* Dies naming the record unless its label_kind and params are as expected. */
void fi_grad_check(const fi_record *rec, const fi_grad_expect *e);

#endif
