/* picture - a ranked stream drawn as a PNG: each test image beside its
 * most helpful and most harmful training images (formats/picture.md). The
 * work is in lib/picture.c (layout), lib/font.c and lib/png.c. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "classes.h"
#include "opts.h"
#include "picture.h"
#include "stream.h"
#include "util.h"

int main(int argc, char **argv) {
  int64_t m;
  int zoom;
  const char *join = NULL, *query = NULL, *shape = NULL, *range = NULL, *field = NULL,
             *title = NULL, *model = NULL, *classes = NULL, *out = NULL;
  int chw = 0, invert = 0;
  const fi_opt opts[] = {
    FI_PATH("join", 0, &join, NULL, "training examples (their images, label, label_name)",
            .metavar = "EXAMPLES", .required = 1),
    FI_STR("query", 0, &query, NULL,
           "test examples and predictions (comma list of files): images, label, pred, label_name, pred_name",
           .metavar = "FILES", .required = 1),
    FI_I64("top", 'm', &m, "5", "helpful and harmful images per test image", .min = 1, .max = 100),
    FI_STR("shape", 0, &shape, NULL,
           "image shape: H,W grey or H,W,C (C = 1 grey, 3 RGB); none: from the first image's tensor",
           .metavar = "H,W[,C]"),
    FI_FLAG("chw", 0, &chw, "values are C planes of H x W (PyTorch order), not H x W pixels of C"),
    FI_STR("field", 0, &field, "x", "the image field of the examples", .metavar = "NAME"),
    FI_STR("range", 0, &range, NULL, "scale values LO..HI to 0..255; none: each image's own min..max",
           .metavar = "LO,HI"),
    FI_FLAG("invert", 0, &invert, "draw high values dark (ink on paper)"),
    FI_INT("zoom", 0, &zoom, "0", "pixels per image pixel (0: auto, the longer side >= 96)",
           .min = 0, .max = 64),
    FI_STR("title", 0, &title, NULL, "a line of text above the picture", .metavar = "TEXT"),
    FI_PATH("model", 0, &model, NULL, "name classes by the model's classes"),
    FI_STR("classes", 0, &classes, NULL, "name classes 0, 1, .. (comma list)", .metavar = "A,B,.."),
    FI_PATH("output", 'o', &out, "-", "PNG file (written atomically; - = stdout)"),
    {0}};
  const fi_tool tool = {
    "picture", "draw a ranked stream as a PNG: test images beside their most helpful and harmful training images",
    "--join TRAIN --query QUERY[,PREDICTIONS] [--shape H,W[,C]] [-m M] [-o out.png] < ranked", opts,
    "One row per ranked record: the test image (its id, gold and predicted class), then its M most "
    "helpful and M most harmful training images, each with its class, id and score. Class names "
    "come from the records' label_name / pred_name, else from --model or --classes, else the "
    "class number. Values are scaled to 0..255 per image (min..max) or by --range; grey or RGB. "
    "Layout and scaling: formats/picture.md."};
  fi_parse_options(&tool, argc, argv);
  char err[256];
  fi_picture_spec sp = {.m = m, .zoom = zoom, .chw = chw, .invert = invert, .field = field,
                        .title = title};
  if (shape && fi_picture_parse_shape(shape, &sp, err, sizeof err)) fi_usage_error("--shape: %s", err);
  if (range && fi_picture_parse_range(range, &sp, err, sizeof err)) fi_usage_error("--range: %s", err);
  sp.fixed = range != NULL;
  if (model && classes) fi_usage_error("--model and --classes both name the classes: give one");
  int to_stdout = !strcmp(out, "-");
  if (to_stdout && isatty(1)) fi_usage_error("standard output is a terminal: give -o FILE.png or redirect it");
  fi_classes *cl = NULL;
  if (model && !(cl = fi_classes_from_model(model)))
    fi_die("--model %s names no classes (train it on examples with label_name, or give --classes)", model);
  if (classes && !(cl = fi_classes_from_list(classes, err, sizeof err))) fi_usage_error("--classes: %s", err);

  fi_picture *p = fi_picture_new(&sp);
  fi_reader *r = fi_reader_open("-");
  const fi_record *rec;
  long long n = 0;
  while ((rec = fi_read(r))) fi_picture_add(p, rec), n++;
  fi_reader_close(r);
  if (n == 0) fi_die("no ranked records on standard input");
  if (fi_picture_entries(p) == 0)
    fi_die("none of the %lld ranked records has a helpful or harmful entry", n);
  /* A file that matches nothing is the wrong one (train and test swapped). */
  if (fi_picture_load_train(p, join) == 0)
    fi_die("--join %s: none of its ids is a training id of the ranked records (--join takes the "
           "training examples, --query the test examples and predictions)", join);
  const char *bad = fi_picture_load_queries(p, query);
  if (bad)
    fi_die("--query %s: none of its ids is a test id of the ranked records (--query takes the test "
           "examples and predictions, --join the training examples)", bad);
  fi_picture_check(p, join, query);

  fi_atomic *a = to_stdout ? NULL : fi_atomic_begin(out);
  uint32_t w, h;
  fi_picture_write(p, cl, a ? fi_atomic_fd(a) : 1, to_stdout ? "standard output" : out, &w, &h);
  if (a) fi_atomic_commit(a);
  fi_log("%lld test images, %lld training images: %ux%u pixels", n, (long long)fi_picture_entries(p), w, h);
  fi_done(n);
  fi_picture_free(p);
  fi_classes_free(cl);
  return 0;
}
