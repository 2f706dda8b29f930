/* train - fit a model to an example stream. */
#include <string.h>
#include "model.h"
#include "opts.h"
#include "stream.h"
#include "train.h"
#include "util.h"

int main(int argc, char **argv) {
  const char *arch = NULL, *optim = NULL, *out = NULL;
  long long epochs, batch, seed, max_iter, history;
  double lr, l2, tol, momentum;
  const fi_opt opts[] = {
    {"arch", 'a', FI_OPT_STR, &arch, NULL,
     "linear | mlp:H1[,H2..][:tanh|relu] | bow:BUCKETS,DIM[,H1..][:tanh|relu]",
     .metavar = "SPEC", .required = 1},
    {"optim", 0, FI_OPT_CHOICE, &optim, "auto",
     "optimiser; auto = lbfgs for linear (exact optimum), adam otherwise",
     .choices = "auto|sgd|adam|lbfgs"},
    {"epochs", 'e', FI_OPT_INT, &epochs, "10", "sgd/adam: passes over the data", .min = 0, .max = 1e9},
    {"lr", 0, FI_OPT_DOUBLE, &lr, "0", "sgd/adam step size (0 = 0.05 for sgd, 0.001 for adam)",
     .min = 0, .max = 1e6},
    {"momentum", 0, FI_OPT_DOUBLE, &momentum, "0.9", "sgd momentum", .min = 0, .max = 1},
    {"batch", 'b', FI_OPT_INT, &batch, "64", "sgd/adam mini-batch size", .min = 1, .max = 1e9},
    {"l2", 0, FI_OPT_DOUBLE, &l2, "0.001",
     "L2 strength lambda: objective = mean CE + lambda/2 ||w||^2 (weights, not biases)",
     .min = 0, .max = 1e6},
    {"seed", 's', FI_OPT_INT, &seed, "1", "initialisation and shuffling seed", .min = 0, .max = 9e18},
    {"tol", 0, FI_OPT_DOUBLE, &tol, "1e-6",
     "lbfgs: stop when |grad| <= tol * max(1, |grad at start|)", .min = 0, .max = 1},
    {"max-iter", 0, FI_OPT_INT, &max_iter, "1000", "lbfgs: iteration cap", .min = 0, .max = 1e9},
    {"history", 0, FI_OPT_INT, &history, "10", "lbfgs: correction pairs kept", .min = 1, .max = 1000},
    {"output", 'o', FI_OPT_STR, &out, "-", "model file (written atomically; - = stdout)",
     .metavar = "FILE"},
    {0}};
  const fi_tool tool = {
    "train", "fit a model to an example stream",
    "--arch SPEC [options] < examples > model", opts,
    "Input size and class count come from the data (classes = max label + 1); "
    "records with \"label_name\" name the classes in the model. The same seed "
    "and data give a byte-identical model."};
  fi_parse_options(&tool, argc, argv);

  fi_reader *r = fi_reader_open("-");
  fi_spool sp;
  fi_spool_read(&sp, r);
  fi_reader_close(r);
  if (sp.n == 0) fi_die("no examples on stdin");
  if (sp.nclasses < 2) fi_die("need labelled examples of at least 2 classes (max label + 1 = %d)",
                              sp.nclasses);
  char err[256];
  fi_model *m = fi_model_create(arch, sp.d, sp.nclasses, l2, (uint64_t)seed, err, sizeof err);
  if (!m) fi_usage_error("--arch %s: %s", arch, err);
  if (sp.class_names) fi_model_set_class_names(m, (const char *const *)sp.class_names);
  fi_examples *ex = fi_spool_examples(&sp, m, 1);
  fi_spool_free(&sp);

  fi_train_opts o;
  fi_train_defaults(&o, fi_model_type(m));
  if (!strcmp(optim, "sgd")) o.optim = FI_OPTIM_SGD;
  else if (!strcmp(optim, "adam")) o.optim = FI_OPTIM_ADAM;
  else if (!strcmp(optim, "lbfgs")) o.optim = FI_OPTIM_LBFGS;
  o.epochs = epochs;
  o.batch = batch;
  o.lr = lr > 0 ? lr : o.optim == FI_OPTIM_SGD ? 0.05 : 1e-3;
  o.momentum = momentum;
  o.seed = (uint64_t)seed;
  o.tol = tol;
  o.max_iter = max_iter;
  o.history = (int)history;
  fi_log("%s model: %lld examples, input %lld, %d classes, l2 %g, optimiser %s",
         fi_model_type(m), (long long)fi_examples_count(ex), (long long)fi_model_input_dim(m),
         fi_model_nclasses(m), l2,
         o.optim == FI_OPTIM_LBFGS ? "lbfgs" : o.optim == FI_OPTIM_ADAM ? "adam" : "sgd");
  fi_train_result res;
  fi_train(m, ex, &o, &res);
  fi_model_save(m, out);
  fi_done(fi_examples_count(ex));
  fi_examples_free(ex);
  fi_model_free(m);
  return 0;
}
