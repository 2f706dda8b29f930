/* test_vectors.c - test gradients or examples' loss gradients as the
 * vectors v of ihvp (test_vectors.h). */
#include "test_vectors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grad_group.h"
#include "grad_records.h"
#include "util.h"

struct fi_test_vectors {
  const fi_model *m;
  const fi_psel *ps;
  fi_reader *r;
  int from_examples, need_label;
  const char *label_opt;  /* the caller's names of the label and selection settings */
  const char *params_opt;
  int64_t P;              /* vector length: the selection's, or (no model) the first record's */
  fi_grad_layout *layout; /* of the gradient records, from the first */
  fi_grad_view *view;
  int keep;               /* keep factor rows (fi_test_vectors_keep_factors) ... */
  fi_grad_group *fgroup;  /* ... here, for the group's records; NULL: all densified */
  float *gbuf;            /* mean mode: one record's vector [P] */
  char *pnames;         /* the selection's names, to check gradient records */
  int64_t chunk;
  const char *mean_id;
  int64_t group;
  float *V;             /* the group's vectors [vcap, P], vcap grown up to group */
  int64_t vcap;
  char **ids;           /* and their ids [group] */
  int64_t nids;         /* ids to free at the next call */
  fi_ws *ws;
  fi_examples *tex;     /* the examples of the current group */
  float *Gex, *probs;   /* their gradients [ne, P] and probabilities [ne, C] */
  int64_t gex_cap;
  int64_t *ex;          /* per vector of the group: example index, or -1 */
  int eof;
  long long nin;
};

fi_test_vectors *fi_test_vectors_new(const fi_model *m, const fi_psel *ps, fi_reader *r,
                                     int64_t group, int from_examples, int pred_label,
                                     const char *label_opt, const char *params_opt, int64_t chunk,
                                     const char *mean_id) {
  fi_test_vectors *tv = fi_calloc(1, sizeof *tv);
  tv->group = group;
  tv->ids = fi_calloc(group, sizeof *tv->ids);
  tv->ex = fi_calloc(group, sizeof *tv->ex);
  tv->m = m;
  tv->ps = ps;
  tv->r = r;
  tv->from_examples = from_examples;
  tv->need_label = !pred_label;
  tv->label_opt = label_opt;
  tv->params_opt = params_opt;
  tv->P = m ? ps->size : -1;
  tv->pnames = m ? fi_psel_names(m, ps) : NULL;
  tv->chunk = chunk;
  tv->mean_id = mean_id;
  tv->ws = m ? fi_ws_new(m) : NULL;
  tv->tex = m ? fi_examples_new(m) : NULL;
  return tv;
}

/* Room for n vectors: memory follows the records read, not the group size. */
static void reserve(fi_test_vectors *tv, int64_t n) {
  if (n <= tv->vcap) return;
  int64_t cap = tv->vcap ? 2 * tv->vcap : 16;
  while (cap < n) cap *= 2;
  if (cap > tv->group) cap = tv->group > n ? tv->group : n;
  const int64_t P = tv->P;
  float *V = fi_aligned(fi_mul_size(cap, P, "test vectors"), sizeof(float));
  if (tv->V) memcpy(V, tv->V, (size_t)(tv->vcap * P) * sizeof(float));
  free(tv->V);
  tv->V = V;
  tv->vcap = cap;
}

static void free_ids(fi_test_vectors *tv) {
  for (int64_t s = 0; s < tv->nids; s++) free(tv->ids[s]);
  tv->nids = 0;
}

void fi_test_vectors_free(fi_test_vectors *tv) {
  if (!tv) return;
  free_ids(tv);
  free(tv->pnames);
  free(tv->ids);
  free(tv->V);
  if (tv->ws) fi_ws_free(tv->ws);
  if (tv->tex) fi_examples_free(tv->tex);
  free(tv->Gex);
  free(tv->probs);
  free(tv->ex);
  free(tv->gbuf);
  fi_grad_view_free(tv->view);
  fi_grad_group_free(tv->fgroup);
  fi_grad_layout_free(tv->layout);
  free(tv);
}

long long fi_test_vectors_nread(const fi_test_vectors *tv) { return tv->nin; }
int64_t fi_test_vectors_P(const fi_test_vectors *tv) { return tv->P; }
const char *fi_test_vectors_params(const fi_test_vectors *tv) {
  return tv->layout ? tv->layout->params : NULL;
}
const char *fi_test_vectors_selection(const fi_test_vectors *tv) {
  return tv->m ? tv->pnames : fi_test_vectors_params(tv);
}
const fi_grad_layout *fi_test_vectors_layout(const fi_test_vectors *tv) { return tv->m ? NULL : tv->layout; }
void fi_test_vectors_keep_factors(fi_test_vectors *tv) { tv->keep = 1; }
const fi_grad_group *fi_test_vectors_factors(const fi_test_vectors *tv) { return tv->fgroup; }

/* Next record, or NULL (and eof) at the end. */
static const fi_record *next_record(fi_test_vectors *tv) {
  const fi_record *rec = fi_read(tv->r);
  if (rec) tv->nin++;
  else tv->eof = 1;
  return rec;
}

static void new_layout(fi_test_vectors *tv, const fi_record *rec) {
  tv->layout = fi_grad_layout_new(rec, tv->P);
  tv->view = fi_grad_view_new(tv->layout);
  tv->P = tv->layout->P;
  /* every record is a gradient record of this layout: its factors can stand for its layers */
  if (tv->keep && !tv->m && !tv->mean_id && !tv->layout->whole) tv->fgroup = fi_grad_group_new(tv->layout);
}

/* Whether rec is a gradient record; without a model it must be one, and
 * the first one sets the layout and P. */
static int is_gradient(fi_test_vectors *tv, const fi_record *rec) {
  int g = !tv->from_examples && fi_grad_is_record(rec);
  if (!tv->m && !g)
    fi_rec_die(rec, "not a gradient record (\"grad\", or \"params\" with factors a.NAME / delta.NAME or "
               "dense parts): without a model file the input must be test gradients");
  if (g && !tv->m && !tv->layout) new_layout(tv, rec);
  return g;
}

/* A gradient record's dense vector into g [P], checked: its provenance
 * against the vectors', its layout against the stream's first. */
static void gradient_vector(fi_test_vectors *tv, const fi_record *rec, float *g) {
  const fi_grad_expect e = {.label_kind = tv->need_label ? "gold" : "pred",
                            .label_opt = tv->label_opt, .pnames = tv->pnames,
                            .params_opt = tv->params_opt};
  fi_grad_check(rec, &e); /* before the layout: the provenance names the mistake best */
  if (!tv->layout) new_layout(tv, rec);
  fi_grad_read(tv->layout, rec, tv->view);
  if (!tv->fgroup) {
    fi_grad_densify(tv->layout, tv->view, g);
    return;
  }
  fi_grad_group_add(tv->fgroup, tv->view); /* the layers stay rows: no densifying */
  fi_grad_copy_dense(tv->layout, tv->view, g);
}

static int finite_row(const float *g, int64_t P) {
  for (int64_t k = 0; k < P; k++)
    if (!isfinite(g[k])) return 0;
  return 1;
}

static _Noreturn void die_gradient(const fi_test_vectors *tv, int64_t i) {
  fi_die("record '%s': its loss gradient is not finite (the inputs or the model's weights "
         "overflow float arithmetic)", fi_examples_id(tv->tex, i));
}

/* Dies naming the first example of the group whose loss gradient is not
 * finite (an overflow in the model on its input). */
static void check_example_gradients(fi_test_vectors *tv, int64_t ne, int mean) {
  const int64_t P = tv->P;
  if (!mean) {
    for (int64_t i = 0; i < ne; i++)
      if (!finite_row(tv->Gex + i * P, P)) die_gradient(tv, i);
    return;
  }
  if (finite_row(tv->Gex, P)) return;
  for (int64_t i = 0; i < ne; i++) { /* row 0 was their mean: find the example alone */
    fi_grad_each(tv->m, tv->ws, tv->ps, tv->tex, &i, 1, 0, tv->Gex);
    if (!finite_row(tv->Gex, P)) die_gradient(tv, i);
  }
  fi_die("the gradient of the mean loss of %lld records is not finite, though each record's is",
         (long long)ne);
}

/* Gradients of the group's ne examples into Gex: one row each, or (mean)
 * the gradient of their mean loss in row 0. */
static void example_gradients(fi_test_vectors *tv, int64_t ne, int mean) {
  const fi_model *m = tv->m;
  if (ne > tv->gex_cap) {
    free(tv->Gex);
    free(tv->probs);
    tv->gex_cap = ne;
    tv->Gex = fi_aligned(fi_mul_size(ne, tv->P, "example gradients"), sizeof(float));
    tv->probs = fi_aligned(fi_mul_size(ne, fi_model_nclasses(m), "probabilities"), sizeof(float));
  }
  if (!tv->need_label) { /* --label pred: the model's own prediction */
    fi_label_by_prediction(m, tv->ws, tv->tex, ne, tv->probs);
  }
  if (mean) fi_grad_mean(m, tv->ws, tv->ps, tv->tex, NULL, ne, 0, tv->Gex);
  else fi_grad_each(m, tv->ws, tv->ps, tv->tex, NULL, ne, 0, tv->Gex);
  check_example_gradients(tv, ne, mean);
}

/* Mean mode: gradient records are summed as read, examples chunk by chunk
 * (sum of per-example gradients = ne * mean gradient), in double. */
static int64_t mean_vector(fi_test_vectors *tv) {
  double *macc = NULL; /* [P], once P is known (without a model: the first record's) */
  int64_t mcount = 0, P = tv->P;
  if (tv->tex) fi_examples_clear(tv->tex);
  while (!tv->eof) {
    const fi_record *rec;
    while ((rec = next_record(tv))) {
      int g = is_gradient(tv, rec);
      if (!macc) {
        P = tv->P;
        macc = fi_calloc(P, sizeof *macc);
        tv->gbuf = fi_aligned(P, sizeof *tv->gbuf);
      }
      if (g) {
        gradient_vector(tv, rec, tv->gbuf);
        for (int64_t k = 0; k < P; k++) macc[k] += tv->gbuf[k];
        mcount++;
        continue;
      }
      fi_examples_add(tv->tex, rec, tv->need_label);
      if (fi_examples_count(tv->tex) >= tv->chunk) break; /* fold this chunk into the sum */
    }
    int64_t ne = tv->tex ? fi_examples_count(tv->tex) : 0;
    if (ne > 0) {
      example_gradients(tv, ne, 1);
      for (int64_t k = 0; k < P; k++) macc[k] += (double)ne * tv->Gex[k];
      mcount += ne;
      fi_examples_clear(tv->tex);
    }
  }
  if (mcount == 0) fi_die("no input records for the mean vector");
  reserve(tv, 1);
  for (int64_t k = 0; k < P; k++) tv->V[k] = (float)(macc[k] / (double)mcount);
  free(macc);
  tv->ids[0] = fi_strdup(tv->mean_id);
  return tv->nids = 1;
}

/* The next group into tv->V and tv->ids; returns its size. */
static int64_t next_group(fi_test_vectors *tv) {
  if (tv->eof) return 0;
  if (tv->mean_id) return mean_vector(tv);
  int64_t ns = 0;
  const fi_record *rec;
  if (tv->tex) fi_examples_clear(tv->tex);
  if (tv->fgroup) fi_grad_group_clear(tv->fgroup);
  while (ns < tv->group && (rec = next_record(tv))) {
    int g = is_gradient(tv, rec);
    const int64_t P = tv->P;
    reserve(tv, ns + 1);
    if (g) { /* straight into V */
      gradient_vector(tv, rec, tv->V + ns * P);
      tv->ex[ns] = -1;
    } else {
      fi_examples_add(tv->tex, rec, tv->need_label);
      tv->ex[ns] = fi_examples_count(tv->tex) - 1;
    }
    tv->ids[ns] = fi_strdup(fi_rec_id(rec));
    tv->nids = ++ns;
  }
  int64_t ne = tv->tex ? fi_examples_count(tv->tex) : 0;
  if (ne > 0) {
    const int64_t P = tv->P;
    example_gradients(tv, ne, 0);
    for (int64_t s = 0; s < ns; s++)
      if (tv->ex[s] >= 0) memcpy(tv->V + s * P, tv->Gex + tv->ex[s] * P, P * sizeof *tv->V);
  }
  return ns;
}

int64_t fi_test_vectors_next(fi_test_vectors *tv, const float **V, const char *const **ids) {
  free_ids(tv);
  int64_t n = next_group(tv);
  *V = tv->V;
  *ids = (const char *const *)tv->ids;
  return n;
}
