/* train.h - fitting a fi_model to fi_examples (mini-batch SGD with
 * momentum, Adam, full-batch L-BFGS), a few plain SGD steps for
 * finetune-step, and spooling an example stream so its input size and class
 * count are known before the model that parses it exists.
 *
 * Objective (formats/DESIGN.md): R(theta) = mean CE + (l2/2) ||w||^2 over the
 * model's weight tensors (not biases), l2 = fi_model_l2(m). Everything here
 * is single-threaded in its own loops and deterministic for a given seed. */
#ifndef FI_TRAIN_H
#define FI_TRAIN_H
#include <stdint.h>
#include "model.h"
#include "stream.h"

/* auto: lbfgs for linear (a convex objective: the exact optimum), adam
 * otherwise (fi_train_resolve). */
typedef enum { FI_OPTIM_AUTO = 0, FI_OPTIM_SGD, FI_OPTIM_ADAM, FI_OPTIM_LBFGS } fi_optim;
extern const char *const fi_optim_names[]; /* by fi_optim, NULL-terminated */

typedef struct {
  fi_optim optim;
  int64_t epochs;       /* sgd/adam: passes over the data */
  int64_t batch;        /* sgd/adam mini-batch size */
  double lr;            /* sgd/adam step size */
  double momentum;      /* sgd: heavy-ball momentum (0 = plain SGD) */
  uint64_t seed;        /* shuffling */
  double tol;           /* lbfgs: stop at ||g|| <= tol * max(1, ||g0||) */
  int64_t max_iter;     /* lbfgs iteration cap */
  int history;          /* lbfgs memory (pairs kept) */
} fi_train_opts;

typedef struct {
  double objective;     /* R(theta) at the end */
  double loss;          /* mean CE on the training set at the end */
  double accuracy;      /* training accuracy at the end */
  double grad_norm;     /* ||grad R|| at the end (lbfgs; 0 for sgd/adam) */
  double grad_norm0;    /* ||grad R|| at the start (lbfgs) */
  int64_t iters;        /* lbfgs iterations or sgd/adam steps */
  int converged;        /* lbfgs reached tol */
} fi_train_result;

/* What auto stands for, for a model type: the optimiser, and lr 0 = 0.05
 * for sgd, 0.001 for adam. */
void fi_train_resolve(fi_train_opts *o, const char *model_type);
/* Trains m in place on all examples in ex (labels required; o resolved by
 * fi_train_resolve). Logs one line
 * per epoch / every few L-BFGS iterations via fi_log. */
void fi_train(fi_model *m, const fi_examples *ex, const fi_train_opts *o,
              fi_train_result *res);

/* Full-batch objective R(theta) and, when g != NULL, its gradient over the
 * selection ps (l2 applied to the selected weights), computed in chunks. */
double fi_objective(const fi_model *m, fi_ws *ws, const fi_psel *ps,
                    const fi_examples *ex, float *g);
/* Dies naming example id unless p[0..C) is a probability distribution
 * (finite, in [0, 1], summing to 1 within 1e-3): what a forward pass whose
 * logits did not overflow gives. */
void fi_probs_check(const float *p, int C, const char *id);
/* Mean CE and accuracy of m on ex (labels required), in chunks; dies
 * naming an example whose probabilities are not a distribution. */
void fi_evaluate(const fi_model *m, fi_ws *ws, const fi_examples *ex,
                 double *loss, double *accuracy);

/* finetune-step: `steps` plain SGD steps theta -= lr * (g + wd * w) on the
 * mean loss of mini-batches of ex (gold labels); batch <= 0 or >= n means
 * the whole set each step. Weight decay wd applies to weight tensors only.
 * Batches follow a permutation from seed, reshuffled after each pass. */
void fi_finetune(fi_model *m, const fi_psel *ps, const fi_examples *ex,
                 double lr, int64_t steps, int64_t batch, double wd,
                 uint64_t seed);


/* ---- spooling: read a whole example stream before the model exists ----
 * The records are kept verbatim in an anonymous in-memory file while the
 * dataset's shape is learned: input size d (element count of "x"; 0 when
 * the records carry "text"/"tokens"), the class count (max label + 1) and
 * the class names when records carry "label_name". */
typedef struct {
  int64_t n;            /* records */
  int64_t d;            /* x elements (0 for text/tokens) */
  int nclasses;         /* max label + 1 (0 when no record has a label) */
  char **class_names;   /* [nclasses] or NULL; entries NULL when unseen */
  int fd;               /* the spool (memfd) */
} fi_spool;
void fi_spool_read(fi_spool *sp, fi_reader *r);
/* Parse the spooled records into examples for m. */
fi_examples *fi_spool_examples(const fi_spool *sp, const fi_model *m, int need_label);
void fi_spool_free(fi_spool *sp);

#endif
