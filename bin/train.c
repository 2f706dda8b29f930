/* train - fit a model to an example stream. */
#include "model.h"
#include "opts.h"
#include "stream.h"
#include "train.h"
#include "util.h"

int main(int argc, char **argv) {
  const char *arch = NULL, *out = NULL;
  fi_train_opts o = {0};
  int optim;
  double l2;
  const fi_opt opts[] = {
    FI_STR("arch", 'a', &arch, NULL, "linear | mlp:H1[,H2..][:tanh|relu] | bow:BUCKETS,DIM[,H1..][:tanh|relu]",
           .metavar = "SPEC", .required = 1),
    FI_CHOICE("optim", 0, &optim, "auto", fi_optim_names, "optimiser; auto = lbfgs for linear (exact optimum), adam otherwise"),
    FI_I64("epochs", 'e', &o.epochs, "10", "sgd/adam: passes over the data", .min = 0, .max = 1e9),
    FI_DOUBLE("lr", 0, &o.lr, "0", "sgd/adam step size (0 = 0.05 for sgd, 0.001 for adam)", .min = 0, .max = 1e6),
    FI_DOUBLE("momentum", 0, &o.momentum, "0.9", "sgd momentum", .min = 0, .max = 1),
    FI_I64("batch", 'b', &o.batch, "64", "sgd/adam mini-batch size", .min = 1, .max = 1e9),
    FI_DOUBLE("l2", 0, &l2, "0.001", "L2 strength lambda: objective = mean CE + lambda/2 ||w||^2 (weights, not biases)",
              .min = 0, .max = 1e6),
    FI_U64("seed", 's', &o.seed, "1", "initialisation and shuffling seed"),
    FI_DOUBLE("tol", 0, &o.tol, "1e-6", "lbfgs: stop when |grad| <= tol * max(1, |grad at start|)", .min = 0, .max = 1),
    FI_I64("max-iter", 0, &o.max_iter, "1000", "lbfgs: iteration cap", .min = 0, .max = 1e9),
    FI_INT("history", 0, &o.history, "10", "lbfgs: correction pairs kept", .min = 1, .max = 1000),
    FI_PATH("output", 'o', &out, "-", "model file (written atomically; - = stdout)"),
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
  fi_model *m = fi_model_create(arch, sp.d, sp.nclasses, l2, o.seed, err, sizeof err);
  if (!m) fi_usage_error("--arch %s: %s", arch, err);
  if (sp.class_names) fi_model_set_class_names(m, (const char *const *)sp.class_names);
  fi_examples *ex = fi_spool_examples(&sp, m, 1);
  fi_spool_free(&sp);

  o.optim = (fi_optim)optim;
  fi_train_resolve(&o, fi_model_type(m));
  fi_log("%s model: %lld examples, input %lld, %d classes, l2 %g, optimiser %s",
         fi_model_type(m), (long long)fi_examples_count(ex), (long long)fi_model_input_dim(m),
         fi_model_nclasses(m), l2, fi_optim_names[o.optim]);
  fi_train_result res;
  fi_train(m, ex, &o, &res);
  fi_model_save(m, out);
  fi_done(fi_examples_count(ex));
  fi_examples_free(ex);
  fi_model_free(m);
  return 0;
}
