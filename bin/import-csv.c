/* import-csv - numeric CSV -> examples records with a feature vector "x". */
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "import.h"
#include "opts.h"
#include "stream.h"
#include "util.h"

int main(int argc, char **argv) {
  const char *label_col, *features, *classes, *id_col, *prefix, *group_col, *where;
  long long max_row;
  const fi_opt opts[] = {
      {"label", 0, FI_OPT_STR, &label_col, "label", "column holding the class",
       .metavar = "COL"},
      {"features", 0, FI_OPT_STR, &features, "all-others",
       "feature columns in order, or all-others (every column not named by another "
       "option)", .metavar = "COL,..|all-others"},
      {"classes", 0, FI_OPT_STR, &classes, NULL,
       "class names in index order (else numbers, or names in order of first appearance)",
       .metavar = "A,B,.."},
      {"id", 0, FI_OPT_STR, &id_col, NULL, "column holding record ids (else generated)",
       .metavar = "COL"},
      {"id-prefix", 0, FI_OPT_STR, &prefix, "row-",
       "generated id = PREFIX + 1-based data row number", .metavar = "STR"},
      {"group", 0, FI_OPT_STR, &group_col, NULL, "column copied to the \"group\" field",
       .metavar = "COL"},
      {"where", 0, FI_OPT_STR, &where, NULL, "keep only rows whose column COL is VALUE",
       .metavar = "COL=VALUE"},
      {"max-row", 0, FI_OPT_INT, &max_row, "4194304", "longest row accepted (bytes)",
       .metavar = "BYTES", .min = 1, .max = 1 << 30},
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
  char err[512];
  fi_labels *labels = fi_labels_new(classes, err, sizeof err);
  if (!labels) fi_usage_error("--classes: %s", err);
  fi_csv *csv = fi_csv_open(first < argc ? argv[first] : "-", err, sizeof err);
  if (!csv) fi_die("%s", err);
  fi_csv_set_max_row(csv, (size_t)max_row);
  if (fi_csv_header(csv) < 0) fi_die("%s", fi_csv_error(csv));
  int ncols = fi_csv_ncolumns(csv);
  int lcol = fi_import_column(csv, "label", label_col);
  int icol = id_col ? fi_import_column(csv, "id", id_col) : -1;
  int gcol = group_col ? fi_import_column(csv, "group", group_col) : -1;
  fi_where wh;
  fi_where_init(&wh, csv, where);
  int *fcols = fi_calloc((size_t)ncols, sizeof *fcols), d = 0;
  if (!strcmp(features, "all-others")) {
    for (int j = 0; j < ncols; j++)
      if (j != lcol && j != icol && j != gcol && j != wh.col) fcols[d++] = j;
  } else {
    char **names;
    int k = fi_split_list(features, &names, err, sizeof err);
    if (k < 0) fi_usage_error("--features: %s", err);
    for (int j = 0; j < k; j++) {
      if (d == ncols) fi_usage_error("--features: more columns than the header has");
      fcols[d++] = fi_import_column(csv, "features", names[j]);
    }
    free(names);
  }
  if (d == 0) fi_die("%s: no feature columns", fi_csv_name(csv));
  float *x = fi_malloc((size_t)d * sizeof *x);
  fi_idclaim seen;
  fi_idclaim_init(&seen);
  fi_writer *w = fi_writer_open("-");
  long long n = 0;
  int r;
  while ((r = fi_csv_next(csv)) == 1) {
    const char *id = fi_import_id(csv, icol, prefix);
    fi_import_check_utf8(csv, id);
    int keep = fi_where_keep(&wh, csv);
    if (!keep && classes) continue; /* fixed classes: filtered rows need no mapping */
    int64_t label;
    const char *name, *why;
    if (fi_labels_map(labels, fi_csv_field(csv, lcol, NULL), &label, &name, &why))
      fi_import_die(csv, id, "column '%s': %s", fi_csv_column_name(csv, lcol), why);
    if (!keep) continue;
    fi_import_claim(csv, &seen, id);
    for (int j = 0; j < d; j++) {
      const char *cell = fi_csv_field(csv, fcols[j], NULL);
      if (fi_parse_f32_cell(cell, &x[j]))
        fi_import_die(csv, id, "column '%s' (#%d): not a finite number: '%.40s'",
                      fi_csv_column_name(csv, fcols[j]), fcols[j] + 1, cell);
    }
    fi_wbegin(w, id, 2 + (name != NULL) + (gcol >= 0));
    fi_wint(w, "label", label);
    fi_wf32(w, "x", x, d);
    if (name) fi_wstr(w, "label_name", name);
    if (gcol >= 0) fi_wstr(w, "group", fi_csv_field(csv, gcol, NULL));
    fi_wend(w);
    n++;
    fi_progress("%lld records", n);
  }
  if (r < 0) fi_die("%s", fi_csv_error(csv));
  fi_log("%d features; classes: %s", d, fi_labels_describe(labels));
  fi_writer_close(w);
  fi_done(n);
  free(x);
  free(fcols);
  fi_where_free(&wh);
  fi_idclaim_free(&seen);
  fi_csv_close(csv);
  fi_labels_free(labels);
  return 0;
}
