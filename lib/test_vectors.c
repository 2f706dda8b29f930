/* test_vectors.c - test gradients or examples' loss gradients as the
 * vectors v of ihvp (test_vectors.h). */
#include "test_vectors.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct fi_test_vectors {
  const fi_model *m;
  const fi_psel *ps;
  fi_reader *r;
  int from_examples, need_label;
  char *pnames;         /* the selection's names, to check gradient records */
  int64_t chunk;
  const char *mean_id;
  int64_t group;
  float *V;             /* the group's vectors [group, P] */
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
                                     int64_t chunk, const char *mean_id) {
  fi_test_vectors *tv = fi_calloc(1, sizeof *tv);
  tv->group = group;
  tv->ids = fi_calloc(group, sizeof *tv->ids);
  tv->V = fi_aligned(fi_mul_size(group, ps->size, "test vectors"), sizeof(float));
  tv->ex = fi_calloc(group, sizeof *tv->ex);
  tv->m = m;
  tv->ps = ps;
  tv->r = r;
  tv->from_examples = from_examples;
  tv->need_label = !pred_label;
  tv->pnames = fi_psel_names(m, ps);
  tv->chunk = chunk;
  tv->mean_id = mean_id;
  tv->ws = fi_ws_new(m);
  tv->tex = fi_examples_new(m);
  return tv;
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
  fi_ws_free(tv->ws);
  fi_examples_free(tv->tex);
  free(tv->Gex);
  free(tv->probs);
  free(tv->ex);
  free(tv);
}

long long fi_test_vectors_nread(const fi_test_vectors *tv) { return tv->nin; }

/* Next record, or NULL (and eof) at the end. */
static const fi_record *next_record(fi_test_vectors *tv) {
  const fi_record *rec = fi_read(tv->r);
  if (rec) tv->nin++;
  else tv->eof = 1;
  return rec;
}

/* A gradient record from grad says which parameters and which label it
 * took the loss over: both must be what this run's --params and --label
 * say, or the ihvp record would describe something else. Records without
 * those fields (e.g. from PyTorch) are taken at their word. */
static void check_gradient(const fi_test_vectors *tv, const fi_record *rec) {
  const char *want = tv->need_label ? "gold" : "pred";
  const char *kind = fi_rec_str(rec, "label_kind", NULL, 0);
  if (kind && strcmp(kind, want))
    fi_rec_die(rec, "gradient of the loss under the %s label, but --label is %s: give --label %s", kind, want, kind);
  const char *pl = fi_rec_str(rec, "params", NULL, 0);
  if (pl && strcmp(pl, tv->pnames))
    fi_rec_die(rec, "gradient over parameters '%s', but --params selects '%s'", pl, tv->pnames);
}

static int is_gradient(const fi_test_vectors *tv, const fi_record *rec) {
  return !tv->from_examples && fi_rec_has(rec, "grad");
}

/* Gradients of the group's ne examples into Gex: one row each, or (mean)
 * the gradient of their mean loss in row 0. */
static void example_gradients(fi_test_vectors *tv, int64_t ne, int mean) {
  const fi_model *m = tv->m;
  if (ne > tv->gex_cap) {
    free(tv->Gex);
    free(tv->probs);
    tv->gex_cap = ne;
    tv->Gex = fi_aligned(fi_mul_size(ne, tv->ps->size, "example gradients"), sizeof(float));
    tv->probs = fi_aligned(fi_mul_size(ne, fi_model_nclasses(m), "probabilities"), sizeof(float));
  }
  if (!tv->need_label) { /* --label pred: the model's own prediction */
    fi_label_by_prediction(m, tv->ws, tv->tex, ne, tv->probs);
  }
  if (mean) fi_grad_mean(m, tv->ws, tv->ps, tv->tex, NULL, ne, 0, tv->Gex);
  else fi_grad_each(m, tv->ws, tv->ps, tv->tex, NULL, ne, 0, tv->Gex);
}

/* Mean mode: gradient records are summed as read, examples chunk by chunk
 * (sum of per-example gradients = ne * mean gradient), in double. */
static int64_t mean_vector(fi_test_vectors *tv) {
  const int64_t P = tv->ps->size;
  double *macc = fi_calloc(P, sizeof *macc);
  int64_t mcount = 0;
  fi_examples_clear(tv->tex);
  while (!tv->eof) {
    const fi_record *rec;
    while ((rec = next_record(tv))) {
      if (is_gradient(tv, rec)) {
        check_gradient(tv, rec);
        const float *g;
        fi_rec_f32(rec, "grad", P, &g, 1);
        for (int64_t k = 0; k < P; k++) macc[k] += g[k];
        mcount++;
        continue;
      }
      fi_examples_add(tv->tex, rec, tv->need_label);
      if (fi_examples_count(tv->tex) >= tv->chunk) break; /* fold this chunk into the sum */
    }
    int64_t ne = fi_examples_count(tv->tex);
    if (ne > 0) {
      example_gradients(tv, ne, 1);
      for (int64_t k = 0; k < P; k++) macc[k] += (double)ne * tv->Gex[k];
      mcount += ne;
      fi_examples_clear(tv->tex);
    }
  }
  if (mcount == 0) fi_die("--mean: no input records");
  for (int64_t k = 0; k < P; k++) tv->V[k] = (float)(macc[k] / (double)mcount);
  free(macc);
  tv->ids[0] = fi_strdup(tv->mean_id);
  return tv->nids = 1;
}

int64_t fi_test_vectors_next(fi_test_vectors *tv, const float **V, const char *const **ids) {
  free_ids(tv);
  *V = tv->V;
  *ids = (const char *const *)tv->ids;
  if (tv->eof) return 0;
  if (tv->mean_id) return mean_vector(tv);
  const int64_t P = tv->ps->size;
  float *const vec = tv->V;
  int64_t ns = 0;
  const fi_record *rec;
  fi_examples_clear(tv->tex);
  while (ns < tv->group && (rec = next_record(tv))) {
    if (is_gradient(tv, rec)) { /* straight into V */
      check_gradient(tv, rec);
      const float *g;
      fi_rec_f32(rec, "grad", P, &g, 1);
      memcpy(vec + ns * P, g, P * sizeof *vec);
      tv->ex[ns] = -1;
    } else {
      fi_examples_add(tv->tex, rec, tv->need_label);
      tv->ex[ns] = fi_examples_count(tv->tex) - 1;
    }
    tv->ids[ns] = fi_strdup(fi_rec_id(rec));
    tv->nids = ++ns;
  }
  int64_t ne = fi_examples_count(tv->tex);
  if (ne > 0) {
    example_gradients(tv, ne, 0);
    for (int64_t s = 0; s < ns; s++)
      if (tv->ex[s] >= 0) memcpy(vec + s * P, tv->Gex + tv->ex[s] * P, P * sizeof *vec);
  }
  return ns;
}
