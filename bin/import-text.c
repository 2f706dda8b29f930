/* import-text - CSV with a text column -> examples records with "text". */
#include "import.h"
#include "opts.h"
#include "stream.h"
#include "util.h"

int main(int argc, char **argv) {
  fi_import_opts io = {0};
  const char *text_col;
  int64_t max_row;
  const fi_opt opts[] = {
      FI_STR("text", 0, &text_col, NULL, "column holding the text", .metavar = "COL", .required = 1),
      FI_STR("label", 0, &io.label, NULL, "column holding the class", .metavar = "COL", .required = 1),
      FI_STR("classes", 0, &io.classes, NULL,
             "class names in index order (else numbered in order of first appearance)", .metavar = "A,B,.."),
      FI_STR("id", 0, &io.id, NULL, "column holding record ids (else generated)", .metavar = "COL"),
      FI_STR("id-prefix", 0, &io.id_prefix, "row-", "generated id = PREFIX + 1-based data row number",
             .metavar = "STR"),
      FI_STR("group", 0, &io.group, NULL, "column copied to the \"group\" field", .metavar = "COL"),
      FI_STR("where", 0, &io.where, NULL, "keep only rows whose column COL is VALUE", .metavar = "COL=VALUE"),
      FI_I64("max-row", 0, &max_row, "4194304", "longest row accepted (bytes)", .metavar = "BYTES",
             .min = 1, .max = 1 << 30),
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
  io.max_row = (size_t)max_row;
  fi_err e;
  fi_import *im = fi_import_open(first < argc ? argv[first] : "-", &io, &e);
  int tcol = im ? fi_import_column(im, "text", text_col, &e) : -1;
  if (tcol < 0) fi_opt_fail(&e);
  const fi_csv *csv = fi_import_csv(im);
  fi_writer *w = fi_writer_open("-");
  long long n = 0;
  fi_import_row row;
  while (fi_import_next(im, &row)) {
    fi_import_wbegin(w, &row, 1);
    fi_wstr(w, "text", fi_csv_field(csv, tcol, NULL));
    fi_import_wend(w, &row);
    n++;
    fi_progress("%lld records", n);
  }
  fi_log("classes: %s", fi_import_classes(im));
  fi_writer_close(w);
  fi_done(n);
  fi_import_close(im);
  return 0;
}
