/* import-text - CSV with a text column -> examples records with "text". */
#include <stdlib.h>

#include "csv.h"
#include "import.h"
#include "opts.h"
#include "stream.h"
#include "util.h"

int main(int argc, char **argv) {
  const char *text_col, *label_col, *classes, *id_col, *prefix, *group_col, *where;
  long long max_row;
  const fi_opt opts[] = {
      {"text", 0, FI_OPT_STR, &text_col, NULL, "column holding the text", .metavar = "COL",
       .required = 1},
      {"label", 0, FI_OPT_STR, &label_col, NULL, "column holding the class", .metavar = "COL",
       .required = 1},
      {"classes", 0, FI_OPT_STR, &classes, NULL,
       "class names in index order (else numbered in order of first appearance)",
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
      "import-text", "CSV (RFC 4180, header row; .gz read transparently) -> text examples",
      "--text COL --label COL [options] [FILE|-] > examples", opts,
      "COL is a header name or a 1-based column number. Without --classes, the label\n"
      "column holds class numbers (0, 1, ..) or names numbered in order of first\n"
      "appearance over ALL rows of the file, before --where, so importing the train\n"
      "and test splits of one file separately gives the same numbering. Generated\n"
      "ids count all data rows too, so they are unique across splits. See\n"
      "formats/examples.md.",
      0, 1};
  int first = fi_parse_options(&tool, argc, argv);
  char err[512];
  fi_labels *labels = fi_labels_new(classes, err, sizeof err);
  if (!labels) fi_usage_error("--classes: %s", err);
  fi_csv *csv = fi_csv_open(first < argc ? argv[first] : "-", err, sizeof err);
  if (!csv) fi_die("%s", err);
  fi_csv_set_max_row(csv, (size_t)max_row);
  if (fi_csv_header(csv) < 0) fi_die("%s", fi_csv_error(csv));
  int tcol = fi_import_column(csv, "text", text_col);
  int lcol = fi_import_column(csv, "label", label_col);
  int icol = id_col ? fi_import_column(csv, "id", id_col) : -1;
  int gcol = group_col ? fi_import_column(csv, "group", group_col) : -1;
  fi_where wh;
  fi_where_init(&wh, csv, where);
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
    fi_wbegin(w, id, 2 + (name != NULL) + (gcol >= 0));
    fi_wint(w, "label", label);
    fi_wstr(w, "text", fi_csv_field(csv, tcol, NULL));
    if (name) fi_wstr(w, "label_name", name);
    if (gcol >= 0) fi_wstr(w, "group", fi_csv_field(csv, gcol, NULL));
    fi_wend(w);
    n++;
    fi_progress("%lld records", n);
  }
  if (r < 0) fi_die("%s", fi_csv_error(csv));
  fi_log("classes: %s", fi_labels_describe(labels));
  fi_writer_close(w);
  fi_done(n);
  fi_where_free(&wh);
  fi_idclaim_free(&seen);
  fi_csv_close(csv);
  fi_labels_free(labels);
  return 0;
}
