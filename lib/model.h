/* model.h - the three architectures of formats/DESIGN.md (linear, mlp, bow):
 * model files, examples in memory, batched forward/backward through BLAS,
 * per-example gradients, exact Hessian-vector and Gauss-Newton-vector
 * products (R-operator) and factored influence scores. All vectors over "selected parameters" are the
 * concatenation of the selected parameter tensors in model order. */
#ifndef FI_MODEL_H
#define FI_MODEL_H
#include <stdint.h>
#include "stream.h"

typedef struct fi_model fi_model;

/* ---- model files and construction ---- */
fi_model *fi_model_load(const char *path);                 /* dies on bad file */
void fi_model_save(const fi_model *m, const char *path);   /* atomic; "-" = stdout */
/* arch spec as in formats/DESIGN.md: linear | mlp:H1[,H2..][:tanh|relu] |
 * bow:BUCKETS,DIM[,H1..][:tanh|relu]. d_in is ignored for bow. Returns NULL
 * and fills err on a bad spec. Parameters are initialised from seed. */
fi_model *fi_model_create(const char *spec, int64_t d_in, int nclasses,
                          double l2, uint64_t seed, char *err, size_t errlen);
fi_model *fi_model_clone(const fi_model *m);
void fi_model_free(fi_model *m);

const char *fi_model_type(const fi_model *m);     /* "linear" | "mlp" | "bow" */
int fi_model_nclasses(const fi_model *m);
int64_t fi_model_input_dim(const fi_model *m);    /* 0 for bow */
int64_t fi_model_embed_dim(const fi_model *m);    /* classifier input size */
double fi_model_l2(const fi_model *m);
/* Optional class names kept in the model ("classes": [str]); may be NULL. */
const char *fi_model_class_name(const fi_model *m, int c);
/* names[c] for c < nclasses (a NULL entry is named by its index); NULL
 * clears the names. */
void fi_model_set_class_names(fi_model *m, const char *const *names);
/* Dense layers (layers.K): how many, and layer K's input/output sizes. */
int fi_model_nlayers(const fi_model *m);
int64_t fi_model_layer_in(const fi_model *m, int k);
int64_t fi_model_layer_out(const fi_model *m, int k);

int fi_model_nparams(const fi_model *m);                    /* parameter tensors */
const char *fi_model_param_name(const fi_model *m, int i);
int64_t fi_model_param_numel(const fi_model *m, int i);
float *fi_model_param_data(fi_model *m, int i);
int fi_model_param_is_weight(const fi_model *m, int i);     /* L2 applies */

/* ---- parameter selection (--params) ---- */
#define FI_MAX_PARAMS 64
typedef struct {
  int n;                          /* selected tensors */
  int idx[FI_MAX_PARAMS];         /* model parameter index, in model order */
  int64_t off[FI_MAX_PARAMS];     /* offset in the selected vector */
  int64_t size;                   /* P: total selected elements */
} fi_psel;
/* list: NULL/"default" (all except embedding.weight), "all", or a comma
 * list of parameter names or layer prefixes ("layers.1"). 0 ok, -1 + err. */
int fi_psel_parse(const fi_model *m, const char *list, fi_psel *out, char *err, size_t errlen);
/* The selection as "name,name,..." in model order (malloc'd): what gradient
 * and ihvp records carry in "params". */
char *fi_psel_names(const fi_model *m, const fi_psel *ps);
void fi_params_get(const fi_model *m, const fi_psel *ps, float *theta);
void fi_params_set(fi_model *m, const fi_psel *ps, const float *theta);

/* ---- examples in memory ---- */
typedef struct fi_examples fi_examples;
fi_examples *fi_examples_new(const fi_model *m);
void fi_examples_free(fi_examples *ex);
void fi_examples_clear(fi_examples *ex);
/* Keep the dense inputs of the examples added from now on (none yet) in
 * an unlinked temp file under $TMPDIR instead of memory, so memory does
 * not grow with N by N x d floats (formats/DESIGN.md, "Training sets of any
 * size"); results are bitwise the same. No-op for bow (bucket lists stay
 * in memory). */
void fi_examples_to_file(fi_examples *ex);
int fi_examples_in_file(const fi_examples *ex);
/* The tools' --train-rows choice (file | memory), in this order. */
enum { FI_ROWS_FILE = 0, FI_ROWS_MEMORY };
extern const char *const fi_rows_choices[];
#define FI_ROWS_HELP "where the training inputs live: file = an unlinked temp file under $TMPDIR " \
  "(memory does not grow with N x d), memory = in RAM; the results are the same"
/* Parse one example record (x / text / tokens, label) and append it.
 * need_label: die if "label" is missing; labels are checked against the
 * model's class count. Dies naming the record on any mismatch. */
void fi_examples_add(fi_examples *ex, const fi_record *rec, int need_label);
/* Read up to max records (max <= 0: all) from r; returns how many. */
int64_t fi_examples_read(fi_examples *ex, fi_reader *r, int64_t max, int need_label);
fi_examples *fi_examples_load(const fi_model *m, const char *path, int need_label);
/* The same, with rows_in_file: the dense inputs in a temp file (fi_examples_to_file). */
fi_examples *fi_examples_load_as(const fi_model *m, const char *path, int need_label, int rows_in_file);
/* Only the records whose id is in `only` (NULL: all); the others are read
 * (the stream is still checked) but not kept, so scoring K candidates of
 * a huge training set holds K examples. *nread (may be NULL) gets the
 * number of records read. */
struct fi_strset;
fi_examples *fi_examples_load_only(const fi_model *m, const char *path, int need_label,
                                   int rows_in_file, const struct fi_strset *only, int64_t *nread);
int64_t fi_examples_count(const fi_examples *ex);
const char *fi_examples_id(const fi_examples *ex, int64_t i);
int32_t fi_examples_label(const fi_examples *ex, int64_t i);
void fi_examples_set_label(fi_examples *ex, int64_t i, int32_t y);
/* bow: compute every example's mean embedding bag under m's current
 * embedding table once, for later computations with m. Only for callers
 * that leave embedding.weight unchanged meanwhile (ihvp's repeated HVPs);
 * adding or clearing examples drops the cache. No-op for other models. */
void fi_examples_cache_bags(fi_examples *ex, const fi_model *m);
/* Index of an id, or -1 (hash lookup). */
int64_t fi_examples_find(const fi_examples *ex, const char *id);

/* ---- computation ----
 * A batch is examples idx[0..nb) of ex (idx NULL = 0..nb-1). A workspace
 * holds all scratch memory so repeated calls allocate nothing once warm;
 * one workspace per thread. */
typedef struct fi_ws fi_ws;
fi_ws *fi_ws_new(const fi_model *m);
void fi_ws_free(fi_ws *ws);

/* probs [nb, C] and emb [nb, E] (either may be NULL); returns the mean
 * cross-entropy under the examples' labels. */
double fi_forward(const fi_model *m, fi_ws *ws, const fi_examples *ex,
                  const int64_t *idx, int64_t nb, float *probs, float *emb);
/* Gradient of the batch mean loss w.r.t. the selected parameters, plus
 * l2*w on selected weights when with_l2. Returns the mean loss. */
double fi_grad_mean(const fi_model *m, fi_ws *ws, const fi_psel *ps,
                    const fi_examples *ex, const int64_t *idx, int64_t nb,
                    int with_l2, float *g);
/* Per-example gradients G [nb, P] (row i = grad of loss of example i). */
void fi_grad_each(const fi_model *m, fi_ws *ws, const fi_psel *ps,
                  const fi_examples *ex, const int64_t *idx, int64_t nb,
                  int with_l2, float *G);
/* Hv for H = Hessian of (batch mean loss + (l2/2)||w_selected||^2) w.r.t.
 * the selected parameters; exact (R-operator), never finite differences. */
void fi_hvp(const fi_model *m, fi_ws *ws, const fi_psel *ps,
            const fi_examples *ex, const int64_t *idx, int64_t nb,
            const float *v, float *Hv);
/* Gv for G = the generalised Gauss-Newton matrix of the same objective:
 * the batch mean of J_i^T (diag p_i - p_i p_i^T) J_i, J_i = d logits_i /
 * d selected parameters, plus l2 on the selected weights. Positive
 * semi-definite, and equal to H where the logits are linear in the
 * selected parameters (softmax regression). Exact: one R-forward pass and
 * one backward pass; labels are not used. */
void fi_ggnvp(const fi_model *m, fi_ws *ws, const fi_psel *ps,
              const fi_examples *ex, const int64_t *idx, int64_t nb,
              const float *v, float *Gv);
/* The same for k vectors V [k, P] -> [k, P] over one forward (and, for
 * the Hessian, backward) pass of the batch, which they share. */
void fi_hvp_many(const fi_model *m, fi_ws *ws, const fi_psel *ps, const fi_examples *ex,
                 const int64_t *idx, int64_t nb, int64_t k, const float *V, float *HV);
void fi_ggnvp_many(const fi_model *m, fi_ws *ws, const fi_psel *ps, const fi_examples *ex,
                   const int64_t *idx, int64_t nb, int64_t k, const float *V, float *GV);
/* The curvature a product stands for: fi_hvp or fi_ggnvp. */
typedef enum { FI_CURV_HESSIAN = 0, FI_CURV_GGN } fi_curvature;
/* The curvature to use when the user names none: the Gauss-Newton matrix
 * where the objective is not convex (mlp, bow: the Hessian is indefinite
 * away from a minimum, so CG breaks down and LiSSA needs damping that
 * biases the answer), the Hessian itself for softmax regression (convex,
 * and there G = H). */
fi_curvature fi_model_default_curvature(const fi_model *m);
/* The predicted class: the first largest of p[0..n). */
int fi_argmax(const float *p, int n);
/* --label pred: set examples 0..nb-1's labels to the model's predictions
 * (probs: scratch [nb, C]). */
void fi_label_by_prediction(const fi_model *m, fi_ws *ws, fi_examples *ex, int64_t nb, float *probs);
/* Each example's label drawn from the model's predictive distribution
 * (probs gets it, [nb, C]), seeded by (seed, the example's id): the labels
 * of the "true Fisher" (Kronfluence's default). */
void fi_label_by_sampling(const fi_model *m, fi_ws *ws, fi_examples *ex, int64_t nb, float *probs,
                          uint64_t seed);
/* Seconds this workspace spent in fi_influence_scores: the forward and
 * backward passes, and the layers' score GEMMs (fused influence's
 * breakdown, make bench). */
void fi_ws_times(const fi_ws *ws, double *pass, double *scores);
/* OpenBLAS's thread pool size (tools that run their own threads set 1). */
void fi_blas_threads(int n);

/* Factored per-example gradients: for dense layers k >= kmin, A[k] gets
 * the layer's inputs [nb, in_k] and D[k] the loss gradients w.r.t. its
 * outputs [nb, out_k], so example i's weight gradient is outer(D_i, A_i)
 * and its bias gradient D_i. NULL entries are skipped. */
void fi_layer_factors(const fi_model *m, fi_ws *ws, const fi_examples *ex,
                      const int64_t *idx, int64_t nb, int kmin,
                      float *const *A, float *const *D);
/* scores[t*nb + i] = -(g_i . S_t) for T vectors S [T, P], computed layer by
 * layer with GEMMs (g_i = delta_i a_i^T), never forming the g_i. */
void fi_influence_scores(const fi_model *m, fi_ws *ws, const fi_psel *ps,
                         const fi_examples *ex, const int64_t *idx, int64_t nb,
                         const float *S, int T, int with_l2, float *scores);

#endif
