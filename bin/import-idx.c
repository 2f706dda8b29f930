/* import-idx - IDX image + label files (MNIST layout, gzipped or not) -> examples. */
#include <stdlib.h>
#include <string.h>

#include "idx.h"
#include "import.h"
#include "opts.h"
#include "stream.h"
#include "util.h"

/* Fashion-MNIST class names, in label order (Xiao et al. 2017). */
static const char fashion_names[] =
    "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot";

int main(int argc, char **argv) {
  const char *images_path, *labels_path, *prefix, *class_names;
  int64_t limit;
  int fashion;
  const fi_opt opts[] = {
      FI_PATH("images", 0, &images_path, NULL, "IDX image file (idx3-ubyte[.gz])", .required = 1),
      FI_PATH("labels", 0, &labels_path, NULL, "IDX label file (idx1-ubyte[.gz])", .required = 1),
      FI_STR("prefix", 0, &prefix, "img-", "id = PREFIX + 0-based item number", .metavar = "STR"),
      FI_I64("limit", 0, &limit, "-1", "import only the first N items (-1: all)", .metavar = "N",
             .min = -1, .max = 1e18),
      FI_STR("class-names", 0, &class_names, NULL, "names of classes 0, 1, .. (written as label_name)",
             .metavar = "A,B,.."),
      FI_FLAG("fashion", 0, &fashion, "use the Fashion-MNIST class names (T-shirt/top, Trouser, .., Ankle boot)"),
      {0}};
  const fi_tool tool = {
      "import-idx", "IDX images and labels -> examples (x: pixels / 255 as f32, flattened)",
      "--images FILE --labels FILE [--prefix STR] [--limit N] [--fashion] > examples", opts,
      "Headers are validated (magic, unsigned-byte type, dimensions) before any\n"
      "allocation; a truncated or over-long file is an error. See formats/examples.md.",
      0, 0};
  fi_parse_options(&tool, argc, argv);
  if (fashion && class_names) fi_usage_error("give --fashion or --class-names, not both");
  char **names = NULL;
  int nnames = 0;
  char err[512];
  if (fashion || class_names) {
    nnames = fi_split_list(fashion ? fashion_names : class_names, &names, err, sizeof err);
    if (nnames < 0) fi_usage_error("--class-names: %s", err);
  }
  fi_idx *im = fi_idx_open(images_path, 0, err, sizeof err);
  if (!im) fi_die("%s", err);
  fi_idx *lb = fi_idx_open(labels_path, 1, err, sizeof err);
  if (!lb) fi_die("%s", err);
  if (fi_idx_ndim(im) < 2) fi_die("%s: images need at least 2 dimensions", images_path);
  if (fi_idx_count(im) != fi_idx_count(lb))
    fi_die("%s has %lld images but %s has %lld labels", images_path,
           (long long)fi_idx_count(im), labels_path, (long long)fi_idx_count(lb));
  int64_t d = fi_idx_item_size(im);
  int64_t total = limit >= 0 && limit < fi_idx_count(im) ? limit : fi_idx_count(im);
  float *x = fi_malloc(fi_mul_size((size_t)d, sizeof *x, "image"));
  size_t idcap = strlen(prefix) + 24;
  char *id = fi_malloc(idcap);
  fi_writer *w = fi_writer_open("-");
  long long n = 0;
  fi_progress_count("images", total);
  for (; n < total; n++) {
    snprintf(id, idcap, "%s%lld", prefix, n);
    uint8_t label;
    /* counts were checked equal, so a short read here is a damaged file */
    if (fi_idx_next_f32(im, x) != 1) fi_die("record '%s': %s", id, fi_idx_error(im));
    if (fi_idx_next(lb, &label) != 1) fi_die("record '%s': %s", id, fi_idx_error(lb));
    if (names && label >= nnames)
      fi_die("record '%s': label %d but only %d class names", id, label, nnames);
    fi_wbegin(w, id, 2 + (names != NULL));
    fi_wint(w, "label", label);
    fi_wf32(w, "x", x, d);
    if (names) fi_wstr(w, "label_name", names[label]);
    fi_wend(w);
    fi_progress_add(1);
  }
  if (total == fi_idx_count(im)) {
    /* whole files imported: also check that nothing follows and the gzip
     * checksums hold */
    if (fi_idx_next_f32(im, x) != 0) fi_die("%s", fi_idx_error(im));
    uint8_t extra;
    if (fi_idx_next(lb, &extra) != 0) fi_die("%s", fi_idx_error(lb));
  }
  fi_writer_close(w);
  fi_done(n);
  fi_idx_close(im);
  fi_idx_close(lb);
  free(id);
  free(x);
  free(names);
  return 0;
}
