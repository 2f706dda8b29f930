/* grad_records.c - gradient records written and read (grad_records.h,
 * formats/gradients.md). */
#include "grad_records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- writing ---- */

static void write_head(fi_writer *w, const char *id, const char *label_kind, int64_t label,
                       const char *params) {
  fi_wrecord(w, id);
  fi_wstr(w, "label_kind", label_kind);
  fi_wint(w, "label", label);
  fi_wstr(w, "params", params);
}

void fi_grad_write_dense(fi_writer *w, const char *id, const char *label_kind, int64_t label,
                         const char *params, const float *g, int64_t P) {
  write_head(w, id, label_kind, label, params);
  fi_wf32(w, "grad", g, P);
  fi_wrecord_end(w);
}

/* "PREFIX.NAME" (malloc'd). */
static char *key_of(const char *prefix, const char *name) {
  size_t n = strlen(prefix) + strlen(name) + 2;
  char *k = fi_malloc(n);
  snprintf(k, n, "%s.%s", prefix, name);
  return k;
}

static void write_rows(fi_writer *w, const char *prefix, const char *name, int64_t r,
                       int64_t width, const float *x) {
  char *key = key_of(prefix, name);
  if (r == 1) {
    fi_wf32(w, key, x, width);
  } else {
    const int64_t shape[2] = {r, width};
    fi_wtensor(w, key, FI_F32, 2, shape, x);
  }
  free(key);
}

void fi_grad_write_factored(fi_writer *w, const char *id, const char *label_kind, int64_t label,
                            const char *params, int nl, const fi_grad_factor *f) {
  write_head(w, id, label_kind, label, params);
  for (int j = 0; j < nl; j++) {
    write_rows(w, "a", f[j].name, f[j].r, f[j].in, f[j].a);
    write_rows(w, "delta", f[j].name, f[j].r, f[j].out, f[j].delta);
  }
  fi_wrecord_end(w);
}

/* ---- reading ---- */

int fi_grad_is_record(const fi_record *rec) {
  if (fi_rec_has(rec, "grad")) return 1;
  if (!fi_rec_has(rec, "params")) return 0;
  for (int i = 0; i < fi_rec_nfields(rec); i++) {
    const char *k = fi_rec_key_at(rec, i);
    if (!strncmp(k, "a.", 2) || !strncmp(k, "delta.", 6) || !strncmp(k, "grad.", 5)) return 1;
  }
  return 0;
}

/* A factor tensor's rows r and width (a 1-D tensor is one row). */
static void factor_shape(const fi_record *rec, const char *key, int64_t *r, int64_t *width) {
  fi_tensor t;
  fi_rec_tensor(rec, key, &t, 1);
  if (t.ndim == 1) {
    *r = 1;
    *width = t.shape[0];
  } else if (t.ndim == 2) {
    *r = t.shape[0];
    *width = t.shape[1];
  } else {
    fi_rec_die(rec, "factor '%s' has %d dimensions (1 or 2: [in] or [r, in])", key, t.ndim);
  }
}

char *fi_grad_param_layer(const char *pname, fi_gpart_kind *kind) {
  size_t n = strlen(pname);
  static const struct { const char *suffix; fi_gpart_kind kind; } sfx[] = {
      {".weight", FI_GPART_WEIGHT}, {".bias", FI_GPART_BIAS}};
  for (size_t i = 0; i < sizeof sfx / sizeof *sfx; i++) {
    size_t s = strlen(sfx[i].suffix);
    if (n > s && !strcmp(pname + n - s, sfx[i].suffix)) {
      *kind = sfx[i].kind;
      char *name = fi_malloc(n - s + 1);
      memcpy(name, pname, n - s);
      name[n - s] = 0;
      return name;
    }
  }
  return NULL;
}

/* The layer called name, added (with its sizes read off rec) if new. */
static int find_layer(fi_grad_layout *L, const fi_record *rec, char *name) {
  for (int j = 0; j < L->nlayers; j++)
    if (!strcmp(L->layers[j].name, name)) {
      free(name);
      return j;
    }
  L->layers = fi_realloc(L->layers, fi_mul_size(L->nlayers + 1, sizeof *L->layers, "layers"));
  fi_grad_layer *l = &L->layers[L->nlayers];
  *l = (fi_grad_layer){.name = name, .akey = key_of("a", name), .dkey = key_of("delta", name),
                       .weight = -1, .bias = -1};
  int64_t ra, rd;
  factor_shape(rec, l->akey, &ra, &l->in);
  factor_shape(rec, l->dkey, &rd, &l->out);
  if (ra != rd) fi_rec_die(rec, "'%s' has %lld rows, '%s' %lld", l->akey, (long long)ra, l->dkey, (long long)rd);
  return L->nlayers++;
}

fi_grad_layout *fi_grad_layout_new(const fi_record *rec, int64_t P) {
  fi_grad_layout *L = fi_calloc(1, sizeof *L);
  const char *params = fi_rec_str(rec, "params", NULL, 0);
  L->params = params ? fi_strdup(params) : NULL;
  if (fi_rec_has(rec, "grad")) {
    const float *g;
    L->whole = 1;
    L->P = fi_rec_f32(rec, "grad", P, &g, 1);
    return L;
  }
  if (!params) fi_rec_die(rec, "a gradient record needs \"grad\", or \"params\" and its parts");
  for (const char *p = params; *p;) {
    size_t n = strcspn(p, ",");
    char *pname = fi_malloc(n + 1);
    memcpy(pname, p, n);
    pname[n] = 0;
    p += n + (p[n] == ',');
    for (int i = 0; i < L->nparts; i++)
      if (!strcmp(L->parts[i].pname, pname)) fi_rec_die(rec, "params names '%s' twice", pname);
    L->parts = fi_realloc(L->parts, fi_mul_size(L->nparts + 1, sizeof *L->parts, "parts"));
    fi_grad_part *pt = &L->parts[L->nparts];
    *pt = (fi_grad_part){.pname = pname, .kind = FI_GPART_DENSE, .layer = -1, .off = L->P,
                         .key = key_of("grad", pname)};
    fi_gpart_kind kind;
    char *name;
    if (fi_rec_has(rec, pt->key)) {
      const float *g;
      pt->numel = fi_rec_f32(rec, pt->key, -1, &g, 1);
    } else if ((name = fi_grad_param_layer(pname, &kind))) {
      char *akey = key_of("a", name);
      int has = fi_rec_has(rec, akey);
      free(akey);
      if (!has) {
        free(name);
        fi_rec_die(rec, "parameter '%s' of params has neither factors a.NAME / delta.NAME nor "
                   "a dense part '%s'", pname, pt->key);
      }
      pt->kind = kind;
      pt->layer = find_layer(L, rec, name);
      fi_grad_layer *l = &L->layers[pt->layer];
      int *slot = kind == FI_GPART_WEIGHT ? &l->weight : &l->bias;
      *slot = L->nparts;
      pt->numel = kind == FI_GPART_WEIGHT ? l->in * l->out : l->out;
    } else {
      fi_rec_die(rec, "parameter '%s' of params has no dense part '%s'", pname, pt->key);
    }
    L->P += pt->numel;
    L->nparts++;
  }
  if (L->nparts == 0) fi_rec_die(rec, "empty params");
  if (P >= 0 && L->P != P)
    fi_rec_die(rec, "the gradient's parts (%s) have %lld values, expected %lld", params,
               (long long)L->P, (long long)P);
  return L;
}

void fi_grad_layout_free(fi_grad_layout *L) {
  if (!L) return;
  for (int i = 0; i < L->nparts; i++) {
    free(L->parts[i].pname);
    free(L->parts[i].key);
  }
  for (int j = 0; j < L->nlayers; j++) {
    free(L->layers[j].name);
    free(L->layers[j].akey);
    free(L->layers[j].dkey);
  }
  free(L->parts);
  free(L->layers);
  free(L->params);
  free(L);
}

fi_grad_view *fi_grad_view_new(const fi_grad_layout *L) {
  fi_grad_view *v = fi_calloc(1, sizeof *v);
  v->layer = fi_calloc(L->nlayers ? L->nlayers : 1, sizeof *v->layer);
  v->dense = fi_calloc(L->nparts ? L->nparts : 1, sizeof *v->dense);
  return v;
}

void fi_grad_view_free(fi_grad_view *v) {
  if (!v) return;
  free(v->layer);
  free(v->dense);
  free(v);
}

/* A factor's rows as a view, checked against the layer's width. */
static const float *factor_rows(const fi_record *rec, const char *key, int64_t width, int64_t *r) {
  int64_t w;
  factor_shape(rec, key, r, &w);
  if (w != width)
    fi_rec_die(rec, "'%s' has width %lld, earlier records %lld", key, (long long)w, (long long)width);
  const float *x;
  fi_rec_f32(rec, key, -1, &x, 1);
  return x;
}

void fi_grad_read(const fi_grad_layout *L, const fi_record *rec, fi_grad_view *v) {
  const char *params = fi_rec_str(rec, "params", NULL, 0);
  if (L->params && params && strcmp(params, L->params))
    fi_rec_die(rec, "params '%s' differ from the stream's first record's '%s'", params, L->params);
  if (L->whole) { /* the stream's first record was a dense gradient */
    fi_rec_f32(rec, "grad", L->P, &v->g, 1);
    return;
  }
  for (int j = 0; j < L->nlayers; j++) {
    const fi_grad_layer *l = &L->layers[j];
    int64_t rd;
    v->layer[j].a = factor_rows(rec, l->akey, l->in, &v->layer[j].r);
    v->layer[j].delta = factor_rows(rec, l->dkey, l->out, &rd);
    if (rd != v->layer[j].r)
      fi_rec_die(rec, "'%s' has %lld rows, '%s' %lld", l->akey, (long long)v->layer[j].r, l->dkey,
                 (long long)rd);
  }
  for (int i = 0; i < L->nparts; i++)
    if (L->parts[i].kind == FI_GPART_DENSE)
      fi_rec_f32(rec, L->parts[i].key, L->parts[i].numel, &v->dense[i], 1);
}

void fi_grad_part_values(const fi_grad_layout *L, int i, const fi_grad_rows *x, float *out) {
  const fi_grad_part *pt = &L->parts[i];
  const fi_grad_layer *l = &L->layers[pt->layer];
  memset(out, 0, (size_t)pt->numel * sizeof *out);
  /* sum over rows t: weight += delta_t a_t^T [out, in], bias += delta_t */
  for (int64_t t = 0; t < x->r; t++) {
    const float *a = x->a + t * l->in, *d = x->delta + t * l->out;
    if (pt->kind == FI_GPART_BIAS) {
      for (int64_t o = 0; o < l->out; o++) out[o] += d[o];
    } else {
      for (int64_t o = 0; o < l->out; o++)
        for (int64_t k = 0; k < l->in; k++) out[o * l->in + k] += d[o] * a[k];
    }
  }
}

void fi_grad_copy_dense(const fi_grad_layout *L, const fi_grad_view *v, float *g) {
  for (int i = 0; i < L->nparts; i++)
    if (L->parts[i].kind == FI_GPART_DENSE)
      memcpy(g + L->parts[i].off, v->dense[i], (size_t)L->parts[i].numel * sizeof *g);
}

void fi_grad_densify(const fi_grad_layout *L, const fi_grad_view *v, float *g) {
  if (L->whole) {
    memcpy(g, v->g, (size_t)L->P * sizeof *g);
    return;
  }
  fi_grad_copy_dense(L, v, g);
  for (int i = 0; i < L->nparts; i++)
    if (L->parts[i].kind != FI_GPART_DENSE)
      fi_grad_part_values(L, i, &v->layer[L->parts[i].layer], g + L->parts[i].off);
}

/* ---- provenance ---- */

/* Whether the selection spec (as --params takes it: default, all, or a
 * comma list of names and prefixes ending at a dot) selects exactly the
 * comma-separated tensor names, as far as names alone can tell (the
 * element count, checked elsewhere, covers the rest). */
static int spec_selects(const char *spec, const char *names) {
  if (!strcmp(spec, names) || !strcmp(spec, "all")) return 1;
  if (!strcmp(spec, "default") || !*spec) return !strstr(names, "embedding.weight");
  for (int pass = 0; pass < 2; pass++) { /* every name matched by an item, every item by a name */
    const char *outer = pass ? spec : names, *inner = pass ? names : spec;
    for (const char *o = outer; *o;) {
      size_t ol = strcspn(o, ",");
      int hit = 0;
      for (const char *i = inner; *i && !hit;) {
        size_t il = strcspn(i, ",");
        const char *item = pass ? o : i, *name = pass ? i : o;
        size_t itl = pass ? ol : il, nml = pass ? il : ol;
        hit = itl <= nml && !strncmp(name, item, itl) && (nml == itl || name[itl] == '.');
        i += il + (i[il] == ',');
      }
      if (!hit) return 0;
      o += ol + (o[ol] == ',');
    }
  }
  return 1;
}

void fi_grad_check(const fi_record *rec, const fi_grad_expect *e) {
  const char *kind = fi_rec_str(rec, "label_kind", NULL, 0);
  if (kind && e->label_kind && strcmp(kind, e->label_kind)) {
    if (e->label_opt)
      fi_rec_die(rec, "gradient of the loss under the %s label, but %s is %s: give %s %s", kind,
                 e->label_opt, e->label_kind, e->label_opt, kind);
    fi_rec_die(rec, "gradient of the loss under the %s label, but training examples are scored "
               "under their %s labels: make the gradients with %s %s", kind, e->label_kind,
               e->label_fix, e->label_kind);
  }
  const char *pl = fi_rec_str(rec, "params", NULL, 0);
  if (pl && e->pnames && strcmp(pl, e->pnames))
    fi_rec_die(rec, "gradient over parameters '%s', but %s selects '%s'", pl, e->params_opt, e->pnames);
  if (pl && !e->pnames && e->spec && !spec_selects(e->spec, pl))
    fi_rec_die(rec, "gradient over parameters '%s', but %s selects '%s'", pl, e->params_opt, e->spec);
}
