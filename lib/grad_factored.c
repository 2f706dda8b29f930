/* grad_factored.c - factored per-example gradients (see grad_factored.h). */
#include "grad_factored.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "stream.h"
#include "util.h"

#define MAXL FI_MAX_PARAMS

typedef struct {
  int K;                 /* dense layer index */
  int64_t in, out;
  fi_model *trunc;       /* model ending right after layer K-1, or NULL
                            when the input is the full model's embedding */
  fi_ws *ws;
  float *a;              /* [cap, in] */
  float *delta;          /* [cap, out] */
} layer;

struct fi_factored {
  const fi_model *m;
  fi_ws *ws;
  fi_psel bias;          /* biases of the selected layers, model order */
  int nl;
  layer L[MAXL];
  int64_t cap;
  float *gb;             /* [cap, bias.size] per-example bias gradients */
};

/* "layers.K.weight" / "layers.K.bias" -> K and the kind; -1 otherwise. */
static int dense_param(const char *name, int *is_bias) {
  int K, len = 0;
  if (sscanf(name, "layers.%d.%n", &K, &len) != 1 || len == 0 || K < 0) return -1;
  if (!strcmp(name + len, "weight")) *is_bias = 0;
  else if (!strcmp(name + len, "bias")) *is_bias = 1;
  else return -1;
  return K;
}

static int find_param(const fi_model *m, const char *name) {
  for (int i = 0; i < fi_model_nparams(m); i++)
    if (!strcmp(fi_model_param_name(m, i), name)) return i;
  return -1;
}

/* arch.activation of a model file ("tanh" when absent, as for linear). */
static void file_activation(const char *path, char *buf, size_t len) {
  fi_reader *r = fi_reader_open(path);
  const fi_record *rec = fi_read_single(r, "model");
  fi_val act = fi_map_get(fi_rec_get(rec, "arch"), "activation");
  snprintf(buf, len, "tanh");
  if (fi_val_kind(act) == FI_V_STR) {
    uint32_t n;
    const char *s = fi_val_raw(act, &n);
    if (n < len) {
      memcpy(buf, s, n);
      buf[n] = 0;
    }
  }
  fi_reader_close(r);
}

/* The model that computes layer K's input as its embedding: the same
 * embedding table and first K dense layers, then a classifier (unused) with
 * m's class count so that examples read for m are valid for it. */
static fi_model *truncated(const fi_model *m, int K, const char *act, char *err, size_t errlen) {
  int C = fi_model_nclasses(m);
  char spec[512], list[512] = "";
  size_t at = 0;
  const char *type = fi_model_type(m);
  int bow = !strcmp(type, "bow");
  int64_t in0 = 0, out0 = 0;
  {
    char name[64];
    snprintf(name, sizeof name, "layers.0.bias");
    out0 = fi_model_param_numel(m, find_param(m, name));
    snprintf(name, sizeof name, "layers.0.weight");
    in0 = fi_model_param_numel(m, find_param(m, name)) / out0;
  }
  if (bow) {
    int64_t buckets = fi_model_param_numel(m, find_param(m, "embedding.weight")) / in0;
    at += (size_t)snprintf(list + at, sizeof list - at, "%lld,%lld", (long long)buckets,
                           (long long)in0);
  }
  for (int k = 0; k < K; k++) {
    char name[64];
    snprintf(name, sizeof name, "layers.%d.bias", k);
    int64_t h = fi_model_param_numel(m, find_param(m, name));
    at += (size_t)snprintf(list + at, sizeof list - at, "%s%lld", at ? "," : "", (long long)h);
    if (at >= sizeof list) {
      snprintf(err, errlen, "model too deep to factor");
      return NULL;
    }
  }
  if (!bow && K == 0) snprintf(spec, sizeof spec, "linear");
  else snprintf(spec, sizeof spec, "%s:%s:%s", bow ? "bow" : "mlp", list, act);
  char e2[256];
  fi_model *t = fi_model_create(spec, bow ? 0 : in0, C, 0, 0, e2, sizeof e2);
  if (!t) {
    snprintf(err, errlen, "truncated model '%s': %s", spec, e2);
    return NULL;
  }
  /* Copy the shared parameters by name. */
  char names[4096] = "";
  size_t nat = 0;
  if (bow) nat += (size_t)snprintf(names, sizeof names, "embedding.weight");
  for (int k = 0; k < K && nat < sizeof names; k++)
    nat += (size_t)snprintf(names + nat, sizeof names - nat, "%slayers.%d.weight,layers.%d.bias",
                            nat ? "," : "", k, k);
  if (nat > 0) {
    fi_psel ps_m, ps_t;
    if (nat >= sizeof names || fi_psel_parse(m, names, &ps_m, e2, sizeof e2) != 0 ||
        fi_psel_parse(t, names, &ps_t, e2, sizeof e2) != 0 || ps_m.size != ps_t.size) {
      snprintf(err, errlen, "truncated model '%s' does not match the model's layers", spec);
      fi_model_free(t);
      return NULL;
    }
    float *theta = fi_malloc(fi_mul_size((size_t)ps_m.size, sizeof(float), "parameters"));
    fi_params_get(m, &ps_m, theta);
    fi_params_set(t, &ps_t, theta);
    free(theta);
  }
  return t;
}

fi_factored *fi_factored_new(const fi_model *m, const char *model_path, const fi_psel *ps,
                             char *err, size_t errlen) {
  int nlayers = 0;
  for (int i = 0; i < fi_model_nparams(m); i++) {
    int isb, K = dense_param(fi_model_param_name(m, i), &isb);
    if (K >= 0 && K + 1 > nlayers) nlayers = K + 1;
  }
  int sel[MAXL] = {0};
  for (int k = 0; k < ps->n; k++) {
    const char *name = fi_model_param_name(m, ps->idx[k]);
    int isb, K = dense_param(name, &isb);
    if (K < 0 || K >= MAXL) {
      snprintf(err, errlen, "parameter %s has no factored form (only dense layers do); "
               "use dense gradients or leave it out of --params", name);
      return NULL;
    }
    sel[K] = 1;
  }
  char act[32];
  file_activation(model_path, act, sizeof act);
  fi_factored *f = fi_calloc(1, sizeof *f);
  f->m = m;
  f->ws = fi_ws_new(m);
  char blist[4096] = "";
  size_t at = 0;
  for (int K = 0; K < nlayers; K++) {
    if (!sel[K]) continue;
    layer *l = &f->L[f->nl++];
    char name[64];
    l->K = K;
    snprintf(name, sizeof name, "layers.%d.bias", K);
    l->out = fi_model_param_numel(m, find_param(m, name));
    snprintf(name, sizeof name, "layers.%d.weight", K);
    l->in = fi_model_param_numel(m, find_param(m, name)) / l->out;
    at += (size_t)snprintf(blist + at, sizeof blist - at, "%slayers.%d.bias", at ? "," : "", K);
    if (K < nlayers - 1) {
      l->trunc = truncated(m, K, act, err, errlen);
      if (!l->trunc) {
        fi_factored_free(f);
        return NULL;
      }
      if (fi_model_embed_dim(l->trunc) != l->in) {
        snprintf(err, errlen, "truncated model for layers.%d has embedding size %lld, not %lld",
                 K, (long long)fi_model_embed_dim(l->trunc), (long long)l->in);
        fi_factored_free(f);
        return NULL;
      }
      l->ws = fi_ws_new(l->trunc);
    }
  }
  if (at >= sizeof blist || fi_psel_parse(m, blist, &f->bias, err, errlen) != 0) {
    fi_factored_free(f);
    return NULL;
  }
  return f;
}

void fi_factored_free(fi_factored *f) {
  if (!f) return;
  for (int j = 0; j < f->nl; j++) {
    if (f->L[j].trunc) fi_model_free(f->L[j].trunc);
    if (f->L[j].ws) fi_ws_free(f->L[j].ws);
    free(f->L[j].a);
    free(f->L[j].delta);
  }
  if (f->ws) fi_ws_free(f->ws);
  free(f->gb);
  free(f);
}

int fi_factored_nlayers(const fi_factored *f) { return f->nl; }
int fi_factored_layer(const fi_factored *f, int j) { return f->L[j].K; }
int64_t fi_factored_in(const fi_factored *f, int j) { return f->L[j].in; }
int64_t fi_factored_out(const fi_factored *f, int j) { return f->L[j].out; }
const float *fi_factored_a(const fi_factored *f, int j) { return f->L[j].a; }
const float *fi_factored_delta(const fi_factored *f, int j) { return f->L[j].delta; }

void fi_factored_compute(fi_factored *f, const fi_examples *ex, int64_t nb) {
  if (nb > f->cap) {
    f->cap = nb;
    free(f->gb);
    f->gb = fi_aligned(fi_mul_size((size_t)nb, (size_t)f->bias.size, "factors"), sizeof(float));
    for (int j = 0; j < f->nl; j++) {
      free(f->L[j].a);
      free(f->L[j].delta);
      f->L[j].a = fi_aligned(fi_mul_size((size_t)nb, (size_t)f->L[j].in, "factors"), sizeof(float));
      f->L[j].delta = fi_aligned(fi_mul_size((size_t)nb, (size_t)f->L[j].out, "factors"),
                                 sizeof(float));
    }
  }
  fi_grad_each(f->m, f->ws, &f->bias, ex, NULL, nb, 0, f->gb);
  for (int j = 0; j < f->nl; j++) {
    layer *l = &f->L[j];
    if (l->trunc) fi_forward(l->trunc, l->ws, ex, NULL, nb, NULL, l->a);
    else fi_forward(f->m, f->ws, ex, NULL, nb, NULL, l->a);
    /* bias tensors follow the layer order, so layer j's delta is the j-th
     * block of each row of gb */
    int64_t off = f->bias.off[j];
    for (int64_t i = 0; i < nb; i++)
      memcpy(l->delta + i * l->out, f->gb + i * f->bias.size + off, sizeof(float) * (size_t)l->out);
  }
}
