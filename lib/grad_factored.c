/* grad_factored.c - factored per-example gradients (see grad_factored.h). */
#include "grad_factored.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util.h"

struct fi_factored {
  const fi_model *m;
  fi_ws *ws;
  int nl;                    /* selected layers, in model order */
  int K[FI_MAX_PARAMS];      /* their dense layer indices */
  char name[FI_MAX_PARAMS][32]; /* their names: the parameters' without .weight/.bias */
  int kmin;
  int64_t cap;
  float *A[FI_MAX_PARAMS], *D[FI_MAX_PARAMS]; /* indexed by dense layer */
};

/* The model's dense layer K of parameter "layers.K.weight" / "layers.K.bias"
 * (the model's naming, formats/model.md), with *len the length of the layer
 * name "layers.K"; -1 otherwise. */
static int dense_layer(const char *name, int *len) {
  int K;
  *len = 0;
  if (sscanf(name, "layers.%d%n", &K, len) != 1 || *len == 0 || K < 0 || name[*len] != '.') return -1;
  if (strcmp(name + *len + 1, "weight") && strcmp(name + *len + 1, "bias")) return -1;
  return K;
}

fi_factored *fi_factored_new(const fi_model *m, const fi_psel *ps, char *err, size_t errlen) {
  int sel[FI_MAX_PARAMS] = {0}, len[FI_MAX_PARAMS] = {0};
  const char *pname[FI_MAX_PARAMS] = {0};
  for (int k = 0; k < ps->n; k++) {
    const char *name = fi_model_param_name(m, ps->idx[k]);
    int nl, K = dense_layer(name, &nl);
    if (K < 0 || K >= fi_model_nlayers(m)) {
      snprintf(err, errlen, "parameter %s has no factored form (only dense layers do); "
               "use dense gradients or leave it out of --params", name);
      return NULL;
    }
    sel[K] = 1;
    pname[K] = name;
    len[K] = nl;
  }
  fi_factored *f = fi_calloc(1, sizeof *f);
  f->m = m;
  f->ws = fi_ws_new(m);
  f->kmin = -1;
  for (int K = 0; K < fi_model_nlayers(m); K++)
    if (sel[K]) {
      if (f->kmin < 0) f->kmin = K;
      snprintf(f->name[f->nl], sizeof f->name[f->nl], "%.*s", len[K], pname[K]);
      f->K[f->nl++] = K;
    }
  if (f->nl == 0) {
    snprintf(err, errlen, "no parameters selected");
    fi_factored_free(f);
    return NULL;
  }
  return f;
}

void fi_factored_free(fi_factored *f) {
  if (!f) return;
  for (int K = 0; K < FI_MAX_PARAMS; K++) {
    free(f->A[K]);
    free(f->D[K]);
  }
  if (f->ws) fi_ws_free(f->ws);
  free(f);
}

int fi_factored_nlayers(const fi_factored *f) { return f->nl; }
int fi_factored_layer(const fi_factored *f, int j) { return f->K[j]; }
const char *fi_factored_name(const fi_factored *f, int j) { return f->name[j]; }
int64_t fi_factored_in(const fi_factored *f, int j) { return fi_model_layer_in(f->m, f->K[j]); }
int64_t fi_factored_out(const fi_factored *f, int j) { return fi_model_layer_out(f->m, f->K[j]); }
const float *fi_factored_a(const fi_factored *f, int j) { return f->A[f->K[j]]; }
const float *fi_factored_delta(const fi_factored *f, int j) { return f->D[f->K[j]]; }

void fi_factored_compute(fi_factored *f, const fi_examples *ex, int64_t nb) {
  if (nb > f->cap) {
    f->cap = nb;
    for (int j = 0; j < f->nl; j++) {
      int K = f->K[j];
      free(f->A[K]);
      free(f->D[K]);
      f->A[K] = fi_aligned(fi_mul_size((size_t)nb, (size_t)fi_model_layer_in(f->m, K), "factors"), sizeof(float));
      f->D[K] = fi_aligned(fi_mul_size((size_t)nb, (size_t)fi_model_layer_out(f->m, K), "factors"), sizeof(float));
    }
  }
  /* Unselected layers have NULL buffers and are skipped. */
  fi_layer_factors(f->m, f->ws, ex, NULL, nb, f->kmin, f->A, f->D);
}
