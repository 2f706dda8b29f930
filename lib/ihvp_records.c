/* ihvp_records.c - ihvp records out, and combining split LiSSA repeats
 * (ihvp_records.h). */
#include "ihvp_records.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "grad_records.h"
#include "util.h"

void fi_ihvp_write(fi_writer *w, const char *id, const float *s, int64_t P,
                   const fi_ihvp_meta *meta, const fi_solve_info *info) {
  fi_ihvp_write_q(w, id, s, P, meta, info, NULL);
}

void fi_ihvp_write_q(fi_writer *w, const char *id, const float *s, int64_t P,
                     const fi_ihvp_meta *meta, const fi_solve_info *info,
                     const fi_ihvp_quality *q) {
  const fi_solver *sv = meta->solver;
  const fi_solve_common *c = &meta->opt->c;
  fi_wrecord(w, id);
  fi_wf32(w, sv->solves ? "ihvp" : "hvp", s, P);
  fi_wstr(w, "method", sv->name);
  if (meta->hessian && strcmp(meta->hessian, "full")) fi_wstr(w, "hessian", meta->hessian);
  if (sv->solves) {
    if (sv->fields) sv->fields(w, meta->opt, info);
    if (c->scale > 0) { /* cg and exact with --shift need no scale */
      fi_wdouble(w, "scale", c->scale);
      fi_wdouble(w, "damping", c->damping);
    }
    fi_wdouble(w, "shift", c->shift);
    fi_wint(w, "seed", (int64_t)c->seed);
  }
  fi_wstr(w, "params", meta->params);
  fi_wstr(w, "label", meta->label);
  if (sv->solves) fi_wint(w, "sum_of", info->sum_of);
  if (sv->solves && q && q->residual >= 0) {
    fi_wdouble(w, "residual", q->residual);
    fi_wint(w, "residual_n", q->residual_n);
  }
  if (sv->solves && q && q->spread >= 0) fi_wdouble(w, "spread", q->spread);
  if (sv->solves && q && q->parts_residual_n > 0) {
    fi_wdouble(w, "parts_residual_max", q->parts_residual_max);
    fi_wint(w, "parts_residual_n", q->parts_residual_n);
  }
  fi_wrecord_end(w);
}

/* The settings of an ihvp --curvature record, after its vector. */
static void curvature_fields(fi_writer *w, const fi_ihvp_curv_meta *cm) {
  fi_wstr(w, "method", "curvature");
  fi_wstr(w, "curvature", cm->kind);
  fi_wdouble(w, cm->absolute ? "shift" : "damping", cm->absolute ? cm->shift : cm->damping);
  fi_wstrs(w, "blocks", cm->blocks, cm->nblocks);
  const int64_t nb = cm->nblocks;
  fi_wtensor(w, "shifts", FI_F64, 1, &nb, cm->lam);
  fi_wstr(w, "params", cm->params);
  fi_wstr(w, "label", cm->label);
  fi_wint(w, "sum_of", 1);
}

void fi_ihvp_write_curvature(fi_writer *w, const char *id, const float *s, int64_t P,
                             const fi_ihvp_curv_meta *cm) {
  fi_wrecord(w, id);
  fi_wf32(w, "ihvp", s, P);
  curvature_fields(w, cm);
  fi_wrecord_end(w);
}

void fi_ihvp_write_factored(fi_writer *w, const char *id, const fi_ihvp_curv_meta *cm, int nl,
                            const fi_ihvp_factor *f, const double *gammas, int nd,
                            const fi_ihvp_dense_part *d) {
  fi_wrecord(w, id);
  curvature_fields(w, cm);
  fi_wint(w, "factored", 1);
  const int64_t gshape[2] = {nl, 2};
  fi_wtensor(w, "gammas", FI_F64, 2, gshape, gammas);
  char key[4200];
  for (int j = 0; j < nl; j++) {
    const int64_t sa[2] = {f[j].r, f[j].k}, sd[2] = {f[j].r, f[j].out};
    snprintf(key, sizeof key, "s_a.%s", f[j].name);
    fi_wtensor(w, key, FI_F32, 2, sa, f[j].sa);
    snprintf(key, sizeof key, "s_delta.%s", f[j].name);
    fi_wtensor(w, key, FI_F32, 2, sd, f[j].sd);
  }
  for (int q = 0; q < nd; q++) {
    snprintf(key, sizeof key, "s.%s", d[q].pname);
    fi_wf32(w, key, d[q].s, d[q].numel);
  }
  fi_wrecord_end(w);
}

/* ---- --combine ---- */

typedef struct {          /* one id's records */
  char *id, *params, *label, *hessian;
  int64_t depth, batch, seed;
  double scale, damping, shift;
  int64_t nparts, cap;
  int64_t *off, *cnt;     /* repeat_offset, sum_of per part */
  double *spread;         /* per part: its "spread", or -1 (absent) */
  double *resid;          /* per part: its residual (or its own parts' largest), or -1 (absent) */
  int64_t *resid_n;       /* the examples of that residual's product */
  float **vec;
  int64_t P;
} cgroup;

static const char *rec_str_or(const fi_record *rec, const char *key, const char *def) {
  const char *s = fi_rec_str(rec, key, NULL, 0);
  return s ? s : def;
}

static int64_t rec_int(const fi_record *rec, const char *key) {
  int64_t v = 0;
  fi_rec_int(rec, key, &v, 1);
  return v;
}

static double rec_double(const fi_record *rec, const char *key) {
  double v = 0;
  fi_rec_double(rec, key, &v, 1);
  return v;
}

static int cmp_part(const void *a, const void *b, void *g) {
  const cgroup *G = g;
  int64_t x = G->off[*(const int64_t *)a], y = G->off[*(const int64_t *)b];
  return x < y ? -1 : x > y;
}

/* Add one record to its id's group (new or checked against the group). */
static void add_part(cgroup **gs, int64_t *ng, int64_t *gcap, const fi_record *rec) {
  const char *id = fi_rec_id(rec);
  const char *method = rec_str_or(rec, "method", "?");
  if (strcmp(method, fi_solver_lissa.name))
    fi_rec_die(rec, "--combine averages LiSSA repeats; this record's method is '%s'", method);
  const float *v;
  int64_t P = fi_rec_f32(rec, "ihvp", -1, &v, 1);
  int64_t off = rec_int(rec, "repeat_offset"), cnt = rec_int(rec, "sum_of");
  if (cnt < 1 || off < 0) fi_rec_die(rec, "bad sum_of %lld or repeat_offset %lld", (long long)cnt, (long long)off);
  cgroup *g = NULL;
  for (int64_t i = 0; i < *ng; i++)
    if (!strcmp((*gs)[i].id, id)) g = &(*gs)[i];
  const char *params = rec_str_or(rec, "params", "default"), *label = rec_str_or(rec, "label", "gold"),
             *hessian = rec_str_or(rec, "hessian", "full");
  if (!g) {
    if (*ng == *gcap) *gs = fi_realloc(*gs, fi_mul_size(*gcap = *gcap ? 2 * *gcap : 16, sizeof **gs, "groups"));
    g = &(*gs)[(*ng)++];
    memset(g, 0, sizeof *g);
    g->id = fi_strdup(id);
    g->params = fi_strdup(params);
    g->label = fi_strdup(label);
    g->hessian = fi_strdup(hessian);
    g->depth = rec_int(rec, "depth");
    g->batch = rec_int(rec, "batch");
    g->seed = rec_int(rec, "seed");
    g->scale = rec_double(rec, "scale");
    g->damping = rec_double(rec, "damping");
    g->shift = rec_double(rec, "shift");
    g->P = P;
  } else if (g->P != P || g->depth != rec_int(rec, "depth") || g->batch != rec_int(rec, "batch") ||
             g->seed != rec_int(rec, "seed") || g->scale != rec_double(rec, "scale") ||
             g->damping != rec_double(rec, "damping") || strcmp(g->params, params) ||
             strcmp(g->label, label) || strcmp(g->hessian, hessian)) {
    fi_rec_die(rec, "settings (P, depth, batch, seed, scale, damping, params, label, hessian) differ "
               "from an earlier record with this id: not repeats of one estimate");
  }
  if (g->nparts == g->cap) {
    g->cap = g->cap ? 2 * g->cap : 4;
    g->off = fi_realloc(g->off, g->cap * sizeof *g->off);
    g->cnt = fi_realloc(g->cnt, g->cap * sizeof *g->cnt);
    g->vec = fi_realloc(g->vec, g->cap * sizeof *g->vec);
    g->spread = fi_realloc(g->spread, g->cap * sizeof *g->spread);
    g->resid = fi_realloc(g->resid, g->cap * sizeof *g->resid);
    g->resid_n = fi_realloc(g->resid_n, g->cap * sizeof *g->resid_n);
  }
  for (int64_t k = 0; k < g->nparts; k++)
    if (off < g->off[k] + g->cnt[k] && g->off[k] < off + cnt)
      fi_rec_die(rec, "repeats %lld..%lld overlap repeats %lld..%lld of an earlier record",
                 (long long)off, (long long)(off + cnt - 1), (long long)g->off[k],
                 (long long)(g->off[k] + g->cnt[k] - 1));
  g->off[g->nparts] = off;
  g->cnt[g->nparts] = cnt;
  double sp = -1;
  if (cnt > 1 && fi_rec_double(rec, "spread", &sp, 0) && !(sp >= 0))
    fi_rec_die(rec, "bad spread %g", sp);
  g->spread[g->nparts] = cnt > 1 ? sp : 0;
  /* A combined part has no residual of its own, but its parts' largest
   * bounds it just the same (write_group). */
  double rs = -1;
  int64_t rn = 0;
  const int own = fi_rec_double(rec, "residual", &rs, 0);
  if (own || fi_rec_double(rec, "parts_residual_max", &rs, 0)) {
    const char *key = own ? "residual" : "parts_residual_max", *key_n = own ? "residual_n" : "parts_residual_n";
    if (!(rs >= 0) || !isfinite(rs)) fi_rec_die(rec, "bad %s %g", key, rs);
    if (!fi_rec_int(rec, key_n, &rn, 0)) rs = -1; /* over an unknown product: no bound */
    else if (rn < 1) fi_rec_die(rec, "bad %s %lld", key_n, (long long)rn);
  }
  g->resid[g->nparts] = rs;
  g->resid_n[g->nparts] = rn;
  g->vec[g->nparts] = fi_malloc(fi_mul_size(P, sizeof(float), "ihvp"));
  memcpy(g->vec[g->nparts], v, P * sizeof(float));
  g->nparts++;
}

/* The group's weighted average, written as one LiSSA record. */
static void write_group(fi_writer *w, cgroup *g) {
  int64_t *ord = fi_malloc(g->nparts * sizeof *ord), total = 0;
  for (int64_t k = 0; k < g->nparts; k++) ord[k] = k;
  qsort_r(ord, g->nparts, sizeof *ord, cmp_part, g);
  /* The record says repeats offset..offset+total-1: they must all be here. */
  for (int64_t k = 1; k < g->nparts; k++)
    if (g->off[ord[k]] != g->off[ord[k - 1]] + g->cnt[ord[k - 1]])
      fi_die("ihvp --combine: '%s': repeats %lld..%lld are missing (the parts must cover one range)",
             g->id, (long long)(g->off[ord[k - 1]] + g->cnt[ord[k - 1]]), (long long)(g->off[ord[k]] - 1));
  double *acc = fi_calloc(g->P, sizeof *acc), ss = 0;
  int have_spread = 1;
  /* The average's residual: ||(C + shift I) sum_k w_k s_k - v|| <= sum_k
   * w_k ||(C + shift I) s_k - v||, all the parts being solves of one v with
   * one C (the same settings, the same residual product), so the parts'
   * largest residual bounds it; without v it cannot be measured here. */
  double rmax = g->resid[0];
  for (int64_t k = 0; k < g->nparts && rmax >= 0; k++)
    rmax = g->resid[k] < 0 || g->resid_n[k] != g->resid_n[0] ? -1 : fmax(rmax, g->resid[k]);
  for (int64_t k = 0; k < g->nparts; k++) {
    const float *v = g->vec[ord[k]];
    double c = (double)g->cnt[ord[k]];
    for (int64_t j = 0; j < g->P; j++) acc[j] += c * v[j];
    total += g->cnt[ord[k]];
    /* The repeats' sum of squared norms: a part's own, from its mean and
     * spread (exact for single repeats, the same sum as one run's). */
    double vn = fi_norm2(v, g->P), sp = g->spread[ord[k]];
    if (sp < 0) have_spread = 0;
    else ss += g->cnt[ord[k]] > 1 ? (c - 1) * sp * sp * vn * vn + c * vn * vn : vn * vn;
  }
  float *out = fi_malloc(fi_mul_size(g->P, sizeof(float), "ihvp"));
  for (int64_t j = 0; j < g->P; j++) out[j] = (float)(acc[j] / (double)total);
  const fi_solve_opts opt = {
      .c = {.scale = g->scale, .damping = g->damping, .shift = g->shift, .seed = (uint64_t)g->seed},
      .lissa = {.depth = g->depth, .batch = g->batch, .repeats = total,
                .repeat_offset = g->off[ord[0]]}};
  const fi_ihvp_meta meta = {.solver = &fi_solver_lissa, .opt = &opt, .params = g->params,
                             .label = g->label, .hessian = g->hessian};
  const fi_ihvp_quality q = {.residual = -1,
                             .spread = total > 1 && have_spread ? fi_repeat_spread(acc, ss, total, g->P) : -1,
                             .parts_residual_max = rmax, .parts_residual_n = rmax >= 0 ? g->resid_n[0] : 0};
  fi_ihvp_write_q(w, g->id, out, g->P, &meta, &(fi_solve_info){.sum_of = total}, &q);
  free(out);
  free(acc);
  free(ord);
}

struct fi_ihvp_parts {
  cgroup *gs;
  int64_t ng, nrec;
};

fi_ihvp_parts *fi_ihvp_combine_read(int nfiles, char *const *files) {
  fi_ihvp_parts c = {0};
  int64_t gcap = 0;
  for (int f = 0; f < (nfiles ? nfiles : 1); f++) {
    fi_reader *r = fi_reader_open(nfiles ? files[f] : "-");
    const fi_record *rec;
    while ((rec = fi_read(r))) {
      add_part(&c.gs, &c.ng, &gcap, rec);
      c.nrec++;
    }
    fi_reader_close(r);
  }
  if (c.nrec == 0) fi_die("--combine: no ihvp records in %s", nfiles ? "the files given" : "standard input");
  fi_ihvp_parts *out = fi_malloc(sizeof *out);
  *out = c;
  return out;
}

long long fi_ihvp_combine_write(fi_ihvp_parts *c, fi_writer *w) {
  for (int64_t i = 0; i < c->ng; i++) {
    cgroup *g = &c->gs[i];
    write_group(w, g);
    for (int64_t k = 0; k < g->nparts; k++) free(g->vec[k]);
    free(g->vec);
    free(g->off);
    free(g->cnt);
    free(g->spread);
    free(g->resid);
    free(g->resid_n);
    free(g->id);
    free(g->params);
    free(g->label);
    free(g->hessian);
  }
  fi_log("combined %lld records into %lld", (long long)c->nrec, (long long)c->ng);
  long long ng = c->ng;
  free(c->gs);
  free(c);
  return ng;
}

/* ---- loading, for influence ---- */

int64_t fi_ihvps_find(const fi_ihvps *h, const char *id) {
  for (int64_t t = 0; t < h->T; t++)
    if (!strcmp(h->ids[t], id)) return t;
  return -1;
}

/* ---- the factored form ---- */

/* "PREFIX.NAME" (malloc'd). */
static char *key_of(const char *prefix, const char *name) {
  size_t n = strlen(prefix) + strlen(name) + 2;
  char *k = fi_malloc(n);
  snprintf(k, n, "%s.%s", prefix, name);
  return k;
}

/* Whether rec carries s_test in the factored form. */
static int is_factored(const fi_record *rec) {
  for (int i = 0; i < fi_rec_nfields(rec); i++) {
    const char *k = fi_rec_key_at(rec, i);
    if (!strncmp(k, "s_a.", 4) || !strncmp(k, "s.", 2)) return 1;
  }
  return 0;
}

/* A factor tensor of rec: its rows (a 1-D tensor is one row) and width. */
static const float *factor(const fi_record *rec, const char *prefix, const char *name, int64_t *r,
                           int64_t *width) {
  char *key = key_of(prefix, name);
  fi_tensor t;
  fi_rec_tensor(rec, key, &t, 1);
  if (t.ndim != 1 && t.ndim != 2)
    fi_rec_die(rec, "factor '%s' has %d dimensions (1 or 2: [w] or [r, w])", key, t.ndim);
  *r = t.ndim == 1 ? 1 : t.shape[0];
  *width = t.shape[t.ndim - 1];
  const float *x;
  fi_rec_f32(rec, key, -1, &x, 1);
  free(key);
  return x;
}

/* The parts and layers of the first factored record, from its params. */
static fi_ihvp_factors *factored_layout(const fi_record *rec, const char *params, int64_t *P) {
  if (!params) fi_rec_die(rec, "factored ihvp record (s_a.NAME / s.PNAME) without \"params\"");
  fi_ihvp_factors *F = fi_calloc(1, sizeof *F);
  int64_t *wa = NULL; /* s_a widths, per layer */
  for (const char *p = params; *p;) {
    size_t n = strcspn(p, ",");
    char *pname = fi_malloc(n + 1);
    memcpy(pname, p, n);
    pname[n] = 0;
    p += n + (p[n] == ',');
    F->parts = fi_realloc(F->parts, fi_mul_size(F->nparts + 1, sizeof *F->parts, "parts"));
    fi_ihvp_fpart *pt = &F->parts[F->nparts];
    *pt = (fi_ihvp_fpart){.pname = pname, .layer = -1};
    char *skey = key_of("s", pname), *akey = NULL, *name = NULL;
    fi_gpart_kind kind;
    if (fi_rec_has(rec, skey)) {
      const float *x;
      pt->numel = fi_rec_f32(rec, skey, -1, &x, 1);
    } else if ((name = fi_grad_param_layer(pname, &kind)) && fi_rec_has(rec, akey = key_of("s_a", name))) {
      int j = 0;
      while (j < F->nlayers && strcmp(F->layers[j].name, name)) j++;
      if (j == F->nlayers) {
        F->layers = fi_realloc(F->layers, fi_mul_size(j + 1, sizeof *F->layers, "layers"));
        wa = fi_realloc(wa, fi_mul_size(j + 1, sizeof *wa, "layers"));
        fi_ihvp_flayer *l = &F->layers[j];
        *l = (fi_ihvp_flayer){.name = name, .weight = -1, .bias = -1};
        name = NULL;
        int64_t ra, rd;
        factor(rec, "s_a", l->name, &ra, &wa[j]);
        factor(rec, "s_delta", l->name, &rd, &l->out);
        F->nlayers++;
      }
      *(kind == FI_GPART_WEIGHT ? &F->layers[j].weight : &F->layers[j].bias) = F->nparts;
      pt->layer = j;
    } else {
      fi_rec_die(rec, "parameter '%s' of params has neither factors s_a.NAME / s_delta.NAME "
                 "nor a dense part '%s'", pname, skey);
    }
    free(skey);
    free(akey);
    free(name);
    F->nparts++;
  }
  if (F->nparts == 0) fi_rec_die(rec, "empty params");
  for (int j = 0; j < F->nlayers; j++) { /* s_a's last column is the bias's when there is one */
    fi_ihvp_flayer *l = &F->layers[j];
    l->in = wa[j] - (l->bias >= 0);
    if (l->in < 0 || (l->weight >= 0 && l->in == 0))
      fi_rec_die(rec, "'s_a.%s' has width %lld: no room for the weight columns and the bias column",
                 l->name, (long long)wa[j]);
  }
  free(wa);
  *P = 0;
  for (int i = 0; i < F->nparts; i++) {
    fi_ihvp_fpart *pt = &F->parts[i];
    if (pt->layer >= 0) {
      const fi_ihvp_flayer *l = &F->layers[pt->layer];
      pt->numel = l->weight == i ? l->in * l->out : l->out;
    }
    pt->off = *P;
    *P += pt->numel;
  }
  return F;
}

/* Append record t's factors (its rows of every layer) and dense parts. */
static void factored_read(fi_ihvp_factors *F, const fi_record *rec, int64_t t) {
  for (int j = 0; j < F->nlayers; j++) {
    fi_ihvp_flayer *l = &F->layers[j];
    const int64_t wa = l->in + (l->bias >= 0);
    int64_t ra, rd, w1, w2;
    const float *sa = factor(rec, "s_a", l->name, &ra, &w1);
    const float *sd = factor(rec, "s_delta", l->name, &rd, &w2);
    if (w1 != wa || w2 != l->out)
      fi_rec_die(rec, "'s_a.%s' / 's_delta.%s' have widths %lld / %lld, the first record's %lld / %lld",
                 l->name, l->name, (long long)w1, (long long)w2, (long long)wa, (long long)l->out);
    if (ra != rd)
      fi_rec_die(rec, "'s_a.%s' has %lld rows, 's_delta.%s' %lld", l->name, (long long)ra, l->name,
                 (long long)rd);
    l->off = fi_realloc(l->off, fi_mul_size(t + 2, sizeof *l->off, "ihvp"));
    if (t == 0) l->off[0] = 0;
    const int64_t r0 = l->off[t];
    l->off[t + 1] = r0 + ra;
    l->sa = fi_realloc(l->sa, fi_mul_size(fi_mul_size(r0 + ra, wa, "ihvp factors"), sizeof(float), "ihvp"));
    l->sd = fi_realloc(l->sd, fi_mul_size(fi_mul_size(r0 + ra, l->out, "ihvp factors"), sizeof(float), "ihvp"));
    if (ra == 0) continue; /* a zero s_test for this layer */
    memcpy(l->sa + r0 * wa, sa, (size_t)(ra * wa) * sizeof(float));
    memcpy(l->sd + r0 * l->out, sd, (size_t)(ra * l->out) * sizeof(float));
  }
  for (int i = 0; i < F->nparts; i++) {
    fi_ihvp_fpart *pt = &F->parts[i];
    if (pt->layer >= 0) continue;
    char *key = key_of("s", pt->pname);
    const float *x;
    fi_rec_f32(rec, key, pt->numel, &x, 1);
    free(key);
    pt->s = fi_realloc(pt->s, fi_mul_size(fi_mul_size(t + 1, pt->numel, "ihvp"), sizeof(float), "ihvp"));
    memcpy(pt->s + t * pt->numel, x, (size_t)pt->numel * sizeof(float));
  }
}

static void factors_free(fi_ihvp_factors *F) {
  if (!F) return;
  for (int i = 0; i < F->nparts; i++) {
    free(F->parts[i].pname);
    free(F->parts[i].s);
  }
  for (int j = 0; j < F->nlayers; j++) {
    free(F->layers[j].name);
    free(F->layers[j].off);
    free(F->layers[j].sa);
    free(F->layers[j].sd);
  }
  free(F->parts);
  free(F->layers);
  free(F);
}

void fi_ihvps_part(const fi_ihvps *h, int64_t t, int i, float *out) {
  const fi_ihvp_fpart *pt = &h->F->parts[i];
  if (pt->layer < 0) {
    memcpy(out, pt->s + t * pt->numel, (size_t)pt->numel * sizeof(float));
    return;
  }
  const fi_ihvp_flayer *l = &h->F->layers[pt->layer];
  const int64_t wa = l->in + (l->bias >= 0), r0 = l->off[t], r = l->off[t + 1] - r0;
  const float *sa = l->sa + r0 * wa, *sd = l->sd + r0 * l->out;
  memset(out, 0, (size_t)pt->numel * sizeof(float));
  if (r == 0) return;
  if (l->weight == i) /* S_W = sd^T sa[:, :in] */
    fi_gemm(1, 0, l->out, l->in, r, 1.0f, sd, l->out, sa, wa, 0.0f, out, l->in);
  else                /* s_b = sd^T sa[:, in] */
    for (int64_t u = 0; u < r; u++)
      for (int64_t o = 0; o < l->out; o++) out[o] += sd[u * l->out + o] * sa[u * wa + l->in];
}

void fi_ihvps_densify(fi_ihvps *h) {
  if (h->S) return;
  h->S = fi_aligned(fi_mul_size(h->T, h->P, "ihvp"), sizeof(float));
  for (int64_t t = 0; t < h->T; t++)
    for (int i = 0; i < h->F->nparts; i++) fi_ihvps_part(h, t, i, h->S + t * h->P + h->F->parts[i].off);
}

void fi_ihvps_load(fi_ihvps *h, const char *path) {
  memset(h, 0, sizeof *h);
  h->path = fi_strdup(path);
  fi_reader *r = fi_reader_open(path);
  const fi_record *rec;
  int64_t cap = 0;
  while ((rec = fi_read(r))) {
    const int factored = h->T ? h->F != NULL : is_factored(rec);
    const float *v = NULL;
    int64_t P = factored ? 0 : fi_rec_f32(rec, "ihvp", h->T ? h->P : -1, &v, 1);
    const char *ps = fi_rec_str(rec, "params", NULL, 0);
    if (h->T == 0) {
      h->params = ps ? fi_strdup(ps) : NULL;
      if (factored) h->F = factored_layout(rec, ps, &h->P);
      else h->P = P;
    } else if ((ps == NULL) != (h->params == NULL) || (ps && strcmp(ps, h->params))) {
      fi_rec_die(rec, "params '%s' differ from the first ihvp record's '%s'", ps ? ps : "?",
                 h->params ? h->params : "?");
    }
    if (h->T == cap) {
      cap = cap ? 2 * cap : 16;
      h->ids = fi_realloc(h->ids, fi_mul_size(cap, sizeof *h->ids, "ihvp ids"));
      if (!h->F) h->S = fi_realloc(h->S, fi_mul_size(fi_mul_size(cap, h->P, "ihvp"), sizeof(float), "ihvp"));
    }
    if (fi_ihvps_find(h, fi_rec_id(rec)) >= 0) fi_rec_die(rec, "duplicate ihvp id");
    h->ids[h->T] = fi_strdup(fi_rec_id(rec));
    if (h->F) factored_read(h->F, rec, h->T);
    else memcpy(h->S + h->T * h->P, v, h->P * sizeof(float));
    h->T++;
  }
  fi_reader_close(r);
  if (h->T == 0) fi_die("%s: no ihvp records", path);
}

void fi_ihvps_free(fi_ihvps *h) {
  for (int64_t t = 0; t < h->T; t++) free(h->ids[t]);
  free(h->ids);
  free(h->S);
  free(h->params);
  free(h->path);
  factors_free(h->F);
  memset(h, 0, sizeof *h);
}
