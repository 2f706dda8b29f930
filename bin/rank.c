/* rank - the most helpful, harmful and influential training examples per
 * test point (formats/ranked.md). The work is in lib/rank.c and lib/join.c. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "classes.h"
#include "join.h"
#include "opts.h"
#include "rank.h"
#include "stream.h"
#include "util.h"

int main(int argc, char **argv) {
  int64_t m;
  const char *join = NULL, *query = NULL, *model = NULL, *classes = NULL, *relative = NULL;
  int text = 0;
  const fi_opt opts[] = {
    FI_I64("top", 'm', &m, "10", "entries per list", .min = 1, .max = 1e9),
    FI_PATH("join", 0, &join, NULL, "training examples: attach label, label_name, text", .metavar = "EXAMPLES"),
    FI_STR("query", 0, &query, NULL,
           "test examples and/or predictions (comma list of files): attach text, label, pred", .metavar = "FILES"),
    FI_PATH("model", 0, &model, NULL, "name classes without a label_name/pred_name by the model's classes",
            .metavar = "FILE"),
    FI_STR("classes", 0, &classes, NULL, "name classes 0, 1, .. without a label_name/pred_name",
           .metavar = "A,B,.."),
    FI_FLAG("text", 0, &text, "print a readable view instead of msgpack"),
    FI_PATH("relative", 0, &relative, NULL,
            "RelatIF: rank score / sqrt(self-influence), from the \"self\" scores record of SELF",
            .metavar = "SELF"),
    {0}};
  const fi_tool tool = {
    "rank", "top-m helpful, harmful and influential training examples per test point",
    "[-m M] [--join EXAMPLES] [--query FILES] [--model M | --classes A,B,..] [--relative SELF] [--text] < scores > ranked", opts,
    "helpful: the most negative scores (removing them would raise the test loss), most "
    "negative first; harmful: the most positive, most positive first; influential: the "
    "largest |score|. helpful and harmful hold only scores of their sign, so they may be "
    "shorter than M. Ties keep input order. Scores records with the same test id (shards "
    "of a fan-out) are merged first, in input order; output follows the order in which "
    "test ids first appear. --relative SELF divides each score by the square root of the training "
    "example's self-influence (RelatIF), so that examples with large gradients stop topping every "
    "list; the lists then carry the divided scores. Class names come from the joined records' label_name and pred_name, "
    "else from --model or --classes, else the class number. See formats/ranked.md."};
  fi_parse_options(&tool, argc, argv);
  if (model && classes) fi_usage_error("--model and --classes both name the classes: give one");
  char err[256];
  fi_classes *cl = NULL;
  if (classes && !(cl = fi_classes_from_list(classes, err, sizeof err))) fi_usage_error("--classes: %s", err);
  if (model && !(cl = fi_classes_from_model(model)))
    fi_die("--model %s names no classes (train it on examples with label_name, or give --classes)", model);
  fi_reader *r = fi_reader_open("-");
  fi_scores *s = fi_scores_merge(r);
  fi_reader_close(r);
  if (fi_scores_ntests(s) == 0) fi_die("no scores records on standard input");
  if (relative) { /* before anything is selected: the lists are of the divided scores */
    fi_reader *sr = fi_reader_open(relative);
    fi_scores_relative(s, sr);
    fi_reader_close(sr);
  }
  /* A join that matches nothing is the wrong file (train and test swapped). */
  fi_join *j = fi_join_new(), *q = fi_join_new();
  if (join && fi_join_load(j, join, fi_scores_train_ids(s)) == 0)
    fi_die("--join %s: none of its ids is a training id of the scores (--join takes the training "
           "examples, --query the test examples and predictions)", join);
  const char *bad = query ? fi_join_load_list(q, query, fi_scores_test_ids(s)) : NULL;
  if (bad)
    fi_die("--query %s: none of its ids is a test id of the scores (--query takes the test "
           "examples and predictions, --join the training examples)", bad);
  fi_writer *w = text ? NULL : fi_writer_open("-");
  fi_ranking rk = {0};
  long long n = 0;
  for (int64_t t = 0; t < fi_scores_ntests(s); t++, n++) {
    fi_rank_select(&rk, s, t, m);
    if (text) fi_rank_print_text(stdout, &rk, j, q, cl);
    else fi_rank_write(w, &rk, j, q, cl);
  }
  if (w) fi_writer_close(w);
  else if (fflush(stdout) || ferror(stdout)) fi_die("writing standard output: %s", strerror(errno));
  fi_done(n);
  fi_ranking_free(&rk);
  fi_scores_free(s);
  fi_join_free(j);
  fi_join_free(q);
  fi_classes_free(cl);
  return 0;
}
