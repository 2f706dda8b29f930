/* model.c - model construction, accessors, parameter selection and the
 * model file (formats/model.md). Computation lives in model_compute.c,
 * examples in examples.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model_internal.h"
#include "sniff.h"
#include "util.h"

/* ---- layout ---- */

static void add_param(fi_model *m, const char *name, const fi_param_decl *d) {
  int i = m->np++;
  snprintf(m->pname[i], sizeof m->pname[i], "%s", name);
  m->pndim[i] = d->ndim;
  m->pnumel[i] = 1;
  for (int k = 0; k < d->ndim; k++) {
    m->pshape[i][k] = d->shape[k];
    m->pnumel[i] *= d->shape[k];
  }
  m->pdata[i] = fi_aligned((size_t)m->pnumel[i], sizeof(float));
  memset(m->pdata[i], 0, (size_t)m->pnumel[i] * sizeof(float));
}

/* Append a layer (in -> out, then act) with its zeroed parameters, named
 * NAME.SUFFIX in the kind's order. */
static void add_layer(fi_model *m, const fi_layer_kind *kind, const char *name, int64_t in,
                      int64_t out, const fi_activation *act) {
  fi_layer *l = &m->layers[m->nlayers];
  fi_param_decl d[FI_LAYER_PARAMS];
  l->kind = kind;
  l->act = act;
  snprintf(l->name, sizeof l->name, "%s", name);
  l->in = in;
  l->out = out;
  l->np = kind->declare(in, out, d);
  for (int j = 0; j < l->np; j++) {
    char nm[sizeof m->pname[0]];
    snprintf(nm, sizeof nm, "%s.%s", name, d[j].suffix);
    l->param[j] = m->np;
    m->powner[m->np] = m->nlayers;
    m->pslot[m->np] = j;
    add_param(m, nm, &d[j]);
    l->p[j] = m->pdata[l->param[j]];
    l->numel[j] = m->pnumel[l->param[j]];
  }
  m->nlayers++;
}

static const fi_activation *activation(fi_act a) {
  return a == FI_ACT_TANH ? &fi_act_tanh : a == FI_ACT_RELU ? &fi_act_relu : NULL;
}

/* Check an architecture for sanity and build its layers, with their
 * (zeroed) parameters in PyTorch order. Returns NULL with err filled on a
 * bad architecture. */
static fi_model *model_alloc(fi_arch arch, fi_act act, int nl, const int64_t *sizes,
                             int64_t buckets, int64_t dim, double l2, char *err, size_t errlen) {
  if (nl < 1 || nl > FI_MAX_LAYERS) {
    snprintf(err, errlen, "%d dense layers (1..%d allowed)", nl, FI_MAX_LAYERS);
    return NULL;
  }
  for (int k = 0; k <= nl; k++)
    if (sizes[k] < 1 || sizes[k] > FI_MAX_SIZE) {
      snprintf(err, errlen, "layer size %lld out of range 1..%lld", (long long)sizes[k],
               (long long)FI_MAX_SIZE);
      return NULL;
    }
  if (sizes[nl] < 2) {
    snprintf(err, errlen, "%lld classes (need at least 2)", (long long)sizes[nl]);
    return NULL;
  }
  for (int k = 0; k < nl; k++)
    if (sizes[k] * sizes[k + 1] >= FI_MAX_NUMEL) {
      snprintf(err, errlen, "layer %d has too many weights (%lld x %lld)", k,
               (long long)sizes[k + 1], (long long)sizes[k]);
      return NULL;
    }
  if (arch == FI_ARCH_BOW) {
    if (buckets < 1 || buckets > FI_MAX_BUCKETS || dim != sizes[0] ||
        buckets * dim >= FI_MAX_NUMEL) {
      snprintf(err, errlen, "bad bow table: %lld buckets x %lld dim (sizes[0] %lld)",
               (long long)buckets, (long long)dim, (long long)sizes[0]);
      return NULL;
    }
  }
  if (arch == FI_ARCH_LINEAR && nl != 1) {
    snprintf(err, errlen, "linear model must have exactly one layer");
    return NULL;
  }
  if (!(l2 >= 0) || !isfinite(l2)) {
    snprintf(err, errlen, "l2 must be a finite number >= 0");
    return NULL;
  }
  fi_model *m = fi_calloc(1, sizeof *m);
  m->arch = arch;
  m->act = arch == FI_ARCH_LINEAR ? FI_ACT_NONE : act;
  m->nl = nl;
  memcpy(m->sizes, sizes, (size_t)(nl + 1) * sizeof *sizes);
  m->buckets = arch == FI_ARCH_BOW ? buckets : 0;
  m->dim = arch == FI_ARCH_BOW ? dim : 0;
  m->l2 = l2;
  m->pe = -1;
  /* the layers: [the embedding bag,] dense layers with the activation
   * between them */
  if (arch == FI_ARCH_BOW) {
    m->pe = m->np;
    add_layer(m, &fi_layer_embag, "embedding", buckets, dim, NULL);
  }
  for (int k = 0; k < nl; k++) {
    char nm[24];
    snprintf(nm, sizeof nm, "layers.%d", k);
    add_layer(m, &fi_layer_dense, nm, sizes[k], sizes[k + 1], k < nl - 1 ? activation(m->act) : NULL);
  }
  return m;
}

void fi_model_free(fi_model *m) {
  if (!m) return;
  for (int i = 0; i < m->np; i++) free(m->pdata[i]);
  if (m->classes) {
    for (int c = 0; c < m->sizes[m->nl]; c++) free(m->classes[c]);
    free(m->classes);
  }
  free(m);
}

fi_model *fi_model_clone(const fi_model *src) {
  char err[160];
  fi_model *m = model_alloc(src->arch, src->act, src->nl, src->sizes, src->buckets, src->dim,
                            src->l2, err, sizeof err);
  if (!m) fi_die("fi_model_clone: %s", err); /* cannot happen for a valid model */
  for (int i = 0; i < m->np; i++)
    memcpy(m->pdata[i], src->pdata[i], (size_t)m->pnumel[i] * sizeof(float));
  if (src->classes) {
    int64_t C = src->sizes[src->nl];
    m->classes = fi_calloc((size_t)C, sizeof(char *));
    for (int64_t c = 0; c < C; c++) m->classes[c] = src->classes[c] ? fi_strdup(src->classes[c]) : NULL;
  }
  return m;
}

/* ---- creation from a spec ---- */

/* "H1,H2,..." into sizes; returns count or -1. */
static int parse_int_list(const char *s, int64_t *out, int max) {
  int n = 0;
  const char *p = s;
  while (*p) {
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end == p || (*end && *end != ',') || n >= max || v < 1) return -1;
    out[n++] = v;
    p = *end ? end + 1 : end;
    if (*end == ',' && !*p) return -1;
  }
  return n;
}

fi_model *fi_model_create(const char *spec, int64_t d_in, int nclasses, double l2,
                          uint64_t seed, char *err, size_t errlen) {
  char buf[512];
  if (!spec || strlen(spec) >= sizeof buf) {
    snprintf(err, errlen, "bad arch spec");
    return NULL;
  }
  snprintf(buf, sizeof buf, "%s", spec);
  fi_arch arch;
  fi_act act = FI_ACT_TANH;
  char *type = buf, *list = NULL, *actname = NULL;
  char *c1 = strchr(buf, ':');
  if (c1) {
    *c1 = 0;
    list = c1 + 1;
    char *c2 = strchr(list, ':');
    if (c2) {
      *c2 = 0;
      actname = c2 + 1;
    }
  }
  if (!strcmp(type, "linear")) arch = FI_ARCH_LINEAR;
  else if (!strcmp(type, "mlp")) arch = FI_ARCH_MLP;
  else if (!strcmp(type, "bow")) arch = FI_ARCH_BOW;
  else {
    snprintf(err, errlen, "unknown arch '%s' (linear, mlp:H1[,H2..][:tanh|relu], "
             "bow:BUCKETS,DIM[,H1..][:tanh|relu])", type);
    return NULL;
  }
  if (actname) {
    if (!strcmp(actname, "tanh")) act = FI_ACT_TANH;
    else if (!strcmp(actname, "relu")) act = FI_ACT_RELU;
    else {
      snprintf(err, errlen, "unknown activation '%s' (tanh or relu)", actname);
      return NULL;
    }
  }
  int64_t nums[FI_MAX_LAYERS + 2];
  int nn = 0;
  if (list) {
    nn = parse_int_list(list, nums, FI_MAX_LAYERS + 2);
    if (nn < 0) {
      snprintf(err, errlen, "bad number list '%s' in arch spec '%s'", list, spec);
      return NULL;
    }
  }
  int64_t sizes[FI_MAX_LAYERS + 2];
  int nl = 0;
  int64_t buckets = 0, dim = 0;
  if (arch == FI_ARCH_LINEAR) {
    if (list) {
      snprintf(err, errlen, "linear takes no sizes");
      return NULL;
    }
    sizes[0] = d_in;
    nl = 1;
  } else if (arch == FI_ARCH_MLP) {
    if (nn < 1) {
      snprintf(err, errlen, "mlp needs hidden sizes: mlp:H1[,H2..][:tanh|relu]");
      return NULL;
    }
    if (nn + 1 > FI_MAX_LAYERS) {
      snprintf(err, errlen, "too many layers");
      return NULL;
    }
    sizes[0] = d_in;
    for (int i = 0; i < nn; i++) sizes[1 + i] = nums[i];
    nl = nn + 1;
  } else {
    if (nn < 2) {
      snprintf(err, errlen, "bow needs bow:BUCKETS,DIM[,H1..][:tanh|relu]");
      return NULL;
    }
    if (nn - 1 > FI_MAX_LAYERS) {
      snprintf(err, errlen, "too many layers");
      return NULL;
    }
    buckets = nums[0];
    dim = nums[1];
    sizes[0] = dim;
    for (int i = 2; i < nn; i++) sizes[i - 1] = nums[i];
    nl = nn - 1;
  }
  sizes[nl] = nclasses;
  fi_model *m = model_alloc(arch, act, nl, sizes, buckets, dim, l2, err, errlen);
  if (!m) return NULL;
  /* every layer's initialisation from one seeded stream, input first */
  fi_rng rng;
  fi_rng_seed(&rng, seed);
  for (int l = 0; l < m->nlayers; l++)
    if (m->layers[l].kind->init) m->layers[l].kind->init(&m->layers[l], &rng);
  return m;
}

/* ---- accessors ---- */

const char *fi_model_type(const fi_model *m) {
  return m->arch == FI_ARCH_LINEAR ? "linear" : m->arch == FI_ARCH_MLP ? "mlp" : "bow";
}
fi_curvature fi_model_default_curvature(const fi_model *m) {
  return m->arch == FI_ARCH_LINEAR ? FI_CURV_HESSIAN : FI_CURV_GGN;
}
int fi_model_nclasses(const fi_model *m) { return (int)m->sizes[m->nl]; }
int64_t fi_model_input_dim(const fi_model *m) { return m->arch == FI_ARCH_BOW ? 0 : m->sizes[0]; }
int64_t fi_model_embed_dim(const fi_model *m) { return m->sizes[m->nl - 1]; }
double fi_model_l2(const fi_model *m) { return m->l2; }
const char *fi_model_class_name(const fi_model *m, int c) {
  if (!m->classes || c < 0 || c >= m->sizes[m->nl]) return NULL;
  return m->classes[c];
}
void fi_model_set_class_names(fi_model *m, const char *const *names) {
  int C = (int)m->sizes[m->nl];
  if (m->classes) {
    for (int c = 0; c < C; c++) free(m->classes[c]);
    free(m->classes);
    m->classes = NULL;
  }
  if (!names) return;
  /* A class the training data did not name (e.g. absent from a subset)
   * stays unnamed (nil in the file), so it never contradicts a name. */
  m->classes = fi_calloc((size_t)C, sizeof(char *));
  for (int c = 0; c < C; c++) m->classes[c] = names[c] ? fi_strdup(names[c]) : NULL;
}
char *fi_psel_names(const fi_model *m, const fi_psel *ps) {
  size_t len = 1;
  for (int k = 0; k < ps->n; k++) len += strlen(m->pname[ps->idx[k]]) + 1;
  char *s = fi_malloc(len), *p = s;
  *p = 0;
  for (int k = 0; k < ps->n; k++) p += sprintf(p, "%s%s", k ? "," : "", m->pname[ps->idx[k]]);
  return s;
}

int fi_model_nlayers(const fi_model *m) { return m->nl; }
int64_t fi_model_layer_in(const fi_model *m, int k) { return k >= 0 && k < m->nl ? m->sizes[k] : 0; }
int64_t fi_model_layer_out(const fi_model *m, int k) { return k >= 0 && k < m->nl ? m->sizes[k + 1] : 0; }
int fi_model_nparams(const fi_model *m) { return m->np; }
const char *fi_model_param_name(const fi_model *m, int i) { return m->pname[i]; }
int64_t fi_model_param_numel(const fi_model *m, int i) { return m->pnumel[i]; }
float *fi_model_param_data(fi_model *m, int i) { return m->pdata[i]; }
int fi_model_param_is_weight(const fi_model *m, int i) {
  size_t n = strlen(m->pname[i]);
  return n >= 7 && !strcmp(m->pname[i] + n - 7, ".weight");
}

/* ---- parameter selection ---- */

int fi_psel_parse(const fi_model *m, const char *list, fi_psel *out, char *err, size_t errlen) {
  int want[FI_MAX_PARAMS] = {0};
  if (!list || !*list || !strcmp(list, "default")) {
    for (int i = 0; i < m->np; i++) want[i] = i != m->pe;
  } else if (!strcmp(list, "all")) {
    for (int i = 0; i < m->np; i++) want[i] = 1;
  } else {
    const char *p = list;
    while (*p) {
      const char *e = strchr(p, ',');
      size_t len = e ? (size_t)(e - p) : strlen(p);
      if (len == 0) {
        snprintf(err, errlen, "empty name in parameter list '%s'", list);
        return -1;
      }
      int hit = 0;
      for (int i = 0; i < m->np; i++) {
        const char *nm = m->pname[i];
        /* exact name, or a prefix ending at a dot: "layers.1" matches
         * layers.1.weight and layers.1.bias but not layers.10.* */
        if (!strncmp(nm, p, len) && (nm[len] == 0 || nm[len] == '.')) {
          want[i] = 1;
          hit = 1;
        }
      }
      if (!hit) {
        char names[512] = "";
        for (int i = 0; i < m->np; i++) {
          size_t l = strlen(names);
          snprintf(names + l, sizeof names - l, "%s%s", i ? ", " : "", m->pname[i]);
        }
        snprintf(err, errlen, "no parameter named '%.*s' (the model has: %s)", (int)len, p,
                 names);
        return -1;
      }
      p += len;
      if (*p == ',') {
        p++;
        if (!*p) {
          snprintf(err, errlen, "trailing comma in parameter list '%s'", list);
          return -1;
        }
      }
    }
  }
  memset(out, 0, sizeof *out);
  for (int i = 0; i < m->np; i++) {
    if (!want[i]) continue;
    out->idx[out->n] = i;
    out->off[out->n] = out->size;
    out->size += m->pnumel[i];
    out->n++;
  }
  if (out->n == 0) {
    snprintf(err, errlen, "no parameters selected");
    return -1;
  }
  return 0;
}

void fi_params_get(const fi_model *m, const fi_psel *ps, float *theta) {
  for (int s = 0; s < ps->n; s++)
    memcpy(theta + ps->off[s], m->pdata[ps->idx[s]], (size_t)m->pnumel[ps->idx[s]] * sizeof(float));
}

void fi_params_set(fi_model *m, const fi_psel *ps, const float *theta) {
  for (int s = 0; s < ps->n; s++)
    memcpy(m->pdata[ps->idx[s]], theta + ps->off[s], (size_t)m->pnumel[ps->idx[s]] * sizeof(float));
}

/* ---- model file ---- */

static const char *act_name(fi_act a) { return activation(a) ? activation(a)->name : "tanh"; }

void fi_model_save(const fi_model *m, const char *path) {
  fi_writer *w = fi_writer_open(path);
  fi_vmap_begin(w, m->classes ? 6 : 5);
  fi_wkey(w, "format");
  fi_vstr(w, "fastif-model");
  fi_wkey(w, "version");
  fi_vint(w, 1);
  fi_wkey(w, "arch");
  int nkeys = m->arch == FI_ARCH_LINEAR ? 2 : m->arch == FI_ARCH_MLP ? 3 : 5;
  fi_vmap(w, nkeys);
  fi_wkey(w, "type");
  fi_vstr(w, fi_model_type(m));
  fi_wkey(w, "sizes");
  fi_varray(w, m->nl + 1);
  for (int k = 0; k <= m->nl; k++) fi_vint(w, m->sizes[k]);
  if (m->arch != FI_ARCH_LINEAR) {
    fi_wkey(w, "activation");
    fi_vstr(w, act_name(m->act));
  }
  if (m->arch == FI_ARCH_BOW) {
    fi_wkey(w, "buckets");
    fi_vint(w, m->buckets);
    fi_wkey(w, "dim");
    fi_vint(w, m->dim);
  }
  fi_wkey(w, "l2");
  fi_vdouble(w, m->l2);
  fi_wkey(w, "params");
  fi_vmap(w, m->np);
  for (int i = 0; i < m->np; i++) {
    fi_wkey(w, m->pname[i]);
    fi_vtensor(w, FI_F32, m->pndim[i], m->pshape[i], m->pdata[i]);
  }
  if (m->classes) {
    fi_wkey(w, "classes");
    fi_varray(w, (int)m->sizes[m->nl]);
    for (int c = 0; c < m->sizes[m->nl]; c++) {
      if (m->classes[c]) fi_vstr(w, m->classes[c]);
      else fi_vnil(w);
    }
  }
  fi_writer_close(w);
}

static int val_streq(fi_val v, const char *s) {
  uint32_t len;
  if (fi_val_kind(v) != FI_V_STR) return 0;
  const char *p = fi_val_raw(v, &len);
  return len == strlen(s) && !memcmp(p, s, len);
}

static int64_t need_int(const char *path, fi_val v, const char *what) {
  int64_t x;
  if (fi_val_kind(v) == FI_V_NONE) fi_die("model %s: missing %s", path, what);
  if (fi_val_int(v, &x)) fi_die("model %s: %s must be an integer", path, what);
  return x;
}

fi_model *fi_model_load(const char *path) {
  fi_reader *r = fi_reader_open(path);
  const char *name = fi_reader_name(r);
  const fi_record *rec = fi_read_single(r, "model");
  fi_val root = fi_rec_root(rec);
  if (fi_val_kind(root) != FI_V_MAP) fi_die("model %s: not a msgpack map", name);
  if (!val_streq(fi_map_get(root, "format"), "fastif-model"))
    fi_die("model %s: not a fastif model file (\"format\" must be \"fastif-model\")%s", name, fi_sniff_hint(rec, FI_WANT_MODEL));
  int64_t version = need_int(name, fi_map_get(root, "version"), "\"version\"");
  if (version != 1) fi_die("model %s: unsupported version %lld (this build reads 1)", name,
                           (long long)version);
  fi_val arch = fi_map_get(root, "arch");
  if (fi_val_kind(arch) != FI_V_MAP) fi_die("model %s: missing \"arch\" map", name);
  fi_val type = fi_map_get(arch, "type");
  fi_arch at;
  if (val_streq(type, "linear")) at = FI_ARCH_LINEAR;
  else if (val_streq(type, "mlp")) at = FI_ARCH_MLP;
  else if (val_streq(type, "bow")) at = FI_ARCH_BOW;
  else fi_die("model %s: arch.type must be \"linear\", \"mlp\" or \"bow\"", name);
  fi_val sz = fi_map_get(arch, "sizes");
  if (fi_val_kind(sz) != FI_V_ARRAY) fi_die("model %s: arch.sizes must be an array", name);
  uint32_t ns = fi_val_len(sz);
  if (ns < 2 || ns > FI_MAX_LAYERS + 1)
    fi_die("model %s: arch.sizes has %u entries (2..%d allowed)", name, ns, FI_MAX_LAYERS + 1);
  if (at == FI_ARCH_LINEAR && ns != 2) fi_die("model %s: linear arch.sizes must be [d, C]", name);
  if (at == FI_ARCH_MLP && ns < 3)
    fi_die("model %s: mlp arch.sizes must be [d, h1, ..., C] with at least one hidden layer", name);
  int64_t sizes[FI_MAX_LAYERS + 1];
  for (uint32_t i = 0; i < ns; i++) sizes[i] = need_int(name, fi_arr_at(sz, i), "arch.sizes[i]");
  fi_act act = FI_ACT_NONE;
  if (at != FI_ARCH_LINEAR) {
    /* linear ignores "activation" if an exporter wrote one */
    fi_val a = fi_map_get(arch, "activation");
    if (val_streq(a, "tanh")) act = FI_ACT_TANH;
    else if (val_streq(a, "relu")) act = FI_ACT_RELU;
    else fi_die("model %s: arch.activation must be \"tanh\" or \"relu\"", name);
  }
  int64_t buckets = 0, dim = 0;
  if (at == FI_ARCH_BOW) {
    buckets = need_int(name, fi_map_get(arch, "buckets"), "arch.buckets");
    dim = need_int(name, fi_map_get(arch, "dim"), "arch.dim");
  }
  double l2 = 0;
  fi_val l2v = fi_map_get(root, "l2");
  if (fi_val_kind(l2v) != FI_V_NONE && fi_val_double(l2v, &l2))
    fi_die("model %s: \"l2\" must be a number", name);
  /* The file must be able to hold every parameter the arch declares: check
   * before allocating them, so a forged header cannot claim gigabytes. */
  double need = at == FI_ARCH_BOW ? (double)buckets * (double)dim : 0;
  for (uint32_t k = 0; k + 1 < ns; k++) need += (double)sizes[k + 1] * ((double)sizes[k] + 1);
  if (need * sizeof(float) > (double)fi_rec_nbytes(rec) && need > 0 && need < 1e18)
    fi_die("model %s: the arch declares %.0f parameters (%.0f bytes of f32) but the file has only %zu bytes",
           name, need, need * sizeof(float), fi_rec_nbytes(rec));
  char err[200];
  fi_model *m = model_alloc(at, act, (int)ns - 1, sizes, buckets, dim, l2, err, sizeof err);
  if (!m) fi_die("model %s: %s", name, err);

  fi_val params = fi_map_get(root, "params");
  if (fi_val_kind(params) != FI_V_MAP) fi_die("model %s: missing \"params\" map", name);
  uint32_t npf = fi_val_len(params);
  int seen[FI_MAX_PARAMS] = {0};
  for (uint32_t j = 0; j < npf; j++) {
    uint32_t klen;
    fi_val key = fi_map_key(params, j);
    if (fi_val_kind(key) != FI_V_STR) fi_die("model %s: params keys must be strings", name);
    const char *kp = fi_val_raw(key, &klen);
    int i;
    for (i = 0; i < m->np; i++)
      if (strlen(m->pname[i]) == klen && !memcmp(m->pname[i], kp, klen)) break;
    if (i == m->np)
      fi_die("model %s: unexpected parameter '%.*s' for a %s model with %d layers", name,
             (int)(klen > 64 ? 64 : klen), kp, fi_model_type(m), m->nl);
    if (seen[i]) fi_die("model %s: parameter '%s' appears twice", name, m->pname[i]);
    seen[i] = 1;
    fi_tensor t;
    const char *why = NULL;
    if (fi_val_tensor(fi_map_value(params, j), &t, &why))
      fi_die("model %s: parameter '%s': %s", name, m->pname[i], why ? why : "not a tensor");
    if (t.dtype != FI_F32)
      fi_die("model %s: parameter '%s' has dtype %s (f32 required)", name, m->pname[i],
             fi_dtype_name(t.dtype));
    int shape_ok = t.ndim == m->pndim[i] && t.shape[0] == m->pshape[i][0] &&
                   (t.ndim == 1 || t.shape[1] == m->pshape[i][1]);
    if (!shape_ok) {
      char got[64] = "", want[64];
      for (int d = 0; d < t.ndim && d < 4; d++) {
        size_t l = strlen(got);
        snprintf(got + l, sizeof got - l, "%s%lld", d ? "," : "", (long long)t.shape[d]);
      }
      if (m->pndim[i] == 2)
        snprintf(want, sizeof want, "%lld,%lld", (long long)m->pshape[i][0],
                 (long long)m->pshape[i][1]);
      else
        snprintf(want, sizeof want, "%lld", (long long)m->pshape[i][0]);
      fi_die("model %s: parameter '%s' has shape [%s], the arch needs [%s]", name, m->pname[i],
             got, want);
    }
    memcpy(m->pdata[i], t.data, (size_t)m->pnumel[i] * sizeof(float));
    for (int64_t e = 0; e < m->pnumel[i]; e++)
      if (!isfinite(m->pdata[i][e]))
        fi_die("model %s: parameter '%s' has a non-finite value at element %lld", name,
               m->pname[i], (long long)e);
  }
  for (int i = 0; i < m->np; i++)
    if (!seen[i]) fi_die("model %s: missing parameter '%s'", name, m->pname[i]);

  fi_val cl = fi_map_get(root, "classes");
  if (fi_val_kind(cl) != FI_V_NONE && fi_val_kind(cl) != FI_V_NIL) {
    int64_t C = m->sizes[m->nl];
    if (fi_val_kind(cl) != FI_V_ARRAY || fi_val_len(cl) != (uint32_t)C)
      fi_die("model %s: \"classes\" must be an array of %lld strings (nil for an unnamed class)", name, (long long)C);
    m->classes = fi_calloc((size_t)C, sizeof(char *));
    for (int64_t c = 0; c < C; c++) {
      uint32_t len;
      fi_val s = fi_arr_at(cl, (uint32_t)c);
      if (fi_val_kind(s) == FI_V_NIL) continue; /* unnamed */
      if (fi_val_kind(s) != FI_V_STR) fi_die("model %s: classes[%lld] is not a string or nil", name,
                                             (long long)c);
      const char *p = fi_val_raw(s, &len);
      m->classes[c] = fi_malloc((size_t)len + 1);
      memcpy(m->classes[c], p, len);
      m->classes[c][len] = 0;
    }
  }
  fi_reader_close(r);
  return m;
}
