/* import-csv - numeric CSV -> examples records with a feature vector "x". */
#include <stdlib.h>
#include <string.h>

#include "import.h"
#include "opts.h"
#include "stream.h"
#include "util.h"

int main(int argc, char **argv) {
  fi_import_opts io = {0};
  const char *features;
  int64_t max_row;
  const fi_opt opts[] = {
      FI_STR("label", 0, &io.label, "label", "column holding the class", .metavar = "COL"),
      FI_STR("features", 0, &features, "all-others",
             "feature columns in order, or all-others (every column not named by another "
             "option)", .metavar = "COL,..|all-others"),
      FI_STR("classes", 0, &io.classes, NULL,
             "class names in index order (else numbers, or names in order of first appearance)",
             .metavar = "A,B,.."),
      FI_STR("id", 0, &io.id, NULL, "column holding record ids (else generated)", .metavar = "COL"),
      FI_STR("id-prefix", 0, &io.id_prefix, "row-", "generated id = PREFIX + 1-based data row number",
             .metavar = "STR"),
      FI_STR("group", 0, &io.group, NULL, "column copied to the \"group\" field", .metavar = "COL"),
      FI_STR("where", 0, &io.where, NULL, "keep only rows whose column COL is VALUE", .metavar = "COL=VALUE"),
      FI_I64("max-row", 0, &max_row, "4194304", "longest row accepted (bytes)", .metavar = "BYTES",
             .min = 1, .max = 1 << 30),
      {0}};
  const fi_tool tool = {
      "import-csv", "numeric CSV (RFC 4180, header row; .gz read transparently) -> examples",
      "[--label COL] [--features COLS|all-others] [options] [FILE|-] > examples", opts,
      "COL is a header name or a 1-based column number. Feature cells must be finite\n"
      "numbers (x is f32). Without --classes, the label column holds class numbers\n"
      "(0, 1, ..) or names numbered in order of first appearance over ALL rows, before\n"
      "--where. Generated ids count all data rows. See formats/examples.md.",
      0, 1};
  int first = fi_parse_options(&tool, argc, argv);
  io.max_row = (size_t)max_row;
  fi_err e;
  fi_import *im = fi_import_open(first < argc ? argv[first] : "-", &io, &e);
  if (!im) fi_opt_fail(&e);
  const fi_csv *csv = fi_import_csv(im);
  int ncols = fi_csv_ncolumns(csv);
  int *fcols = fi_calloc((size_t)ncols, sizeof *fcols), d = 0;
  if (!strcmp(features, "all-others")) {
    for (int j = 0; j < ncols; j++)
      if (!fi_import_uses_column(im, j)) fcols[d++] = j;
  } else {
    char **names, err[512];
    int k = fi_split_list(features, &names, err, sizeof err);
    if (k < 0) fi_usage_error("--features: %s", err);
    for (int j = 0; j < k; j++) {
      if (d == ncols) fi_usage_error("--features: more columns than the header has");
      if ((fcols[d++] = fi_import_column(im, "features", names[j], &e)) < 0) fi_opt_fail(&e);
    }
    free(names);
  }
  if (d == 0) fi_die("%s: no feature columns", fi_csv_name(csv));
  float *x = fi_malloc((size_t)d * sizeof *x);
  fi_writer *w = fi_writer_open("-");
  long long n = 0;
  fi_import_row row;
  while (fi_import_next(im, &row)) {
    for (int j = 0; j < d; j++) {
      const char *cell = fi_csv_field(csv, fcols[j], NULL);
      if (fi_parse_f32_cell(cell, &x[j]))
        fi_import_die(im, row.id, "column '%s' (#%d): not a finite number: '%.40s'",
                      fi_csv_column_name(csv, fcols[j]), fcols[j] + 1, cell);
    }
    fi_import_wbegin(w, &row, 1);
    fi_wf32(w, "x", x, d);
    fi_import_wend(w, &row);
    n++;
    fi_progress("%lld records", n);
  }
  fi_log("%d features; classes: %s", d, fi_import_classes(im));
  fi_writer_close(w);
  fi_done(n);
  free(x);
  free(fcols);
  fi_import_close(im);
  return 0;
}
