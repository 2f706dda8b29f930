/* import_test.c - the CSV row loop both importers share (lib/import.c):
 * settings that do not fit come back as fi_err values naming the setting
 * (the library never exits on them), and the rows come out filtered,
 * numbered and checked as formats/examples.md says. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "import.h"
#include "tap.h"

static char path[] = "/tmp/import_test.XXXXXX";

static fi_import_opts opts(void) {
  return (fi_import_opts){.label = "score", .id_prefix = "row-", .max_row = 1 << 20};
}

int main(void) {
  int fd = mkstemp(path);
  const char *csv = "split,score,text,product\n"
                    "train,good,a,p1\n"
                    "test,bad,b,p2\n"
                    "train,bad,c,p1\n"
                    "train,good,d,p3\n";
  if (fd < 0 || write(fd, csv, strlen(csv)) != (ssize_t)strlen(csv)) return 1;
  close(fd);

  fi_err e = {0};
  fi_import_opts o = opts();
  o.where = "split";
  ok(!fi_import_open(path, &o, &e) && e.kind == FI_ERR_USAGE && !strcmp(e.setting, "where") &&
         strstr(e.msg, "COL=VALUE"),
     "a --where without '=' is a usage error value for 'where' (%s)", e.msg);
  o = opts();
  o.label = "nosuch";
  ok(!fi_import_open(path, &o, &e) && e.kind == FI_ERR_DATA && !strcmp(e.setting, "label") &&
         strstr(e.msg, "no column 'nosuch' (columns: split, score, text, product)"),
     "a missing label column is a data error value for 'label' listing the columns (%s)", e.msg);
  o = opts();
  o.classes = "x,x";
  ok(!fi_import_open(path, &o, &e) && e.kind == FI_ERR_USAGE && !strcmp(e.setting, "classes"),
     "a bad class list is a usage error value for 'classes' (%s)", e.msg);

  o = opts();
  o.where = "split=train";
  o.group = "product";
  fi_import *im = fi_import_open(path, &o, &e);
  ok(im != NULL, "opens with label, where and group columns");
  int text = im ? fi_import_column(im, "text", "text", &e) : -1;
  ok(text == 2 && fi_import_uses_column(im, 0) && fi_import_uses_column(im, 1) && !fi_import_uses_column(im, 2) &&
         fi_import_uses_column(im, 3),
     "columns by name; the option columns are known (all-others leaves them out)");
  const char *want_id[] = {"row-1", "row-3", "row-4"}, *want_text[] = {"a", "c", "d"};
  int64_t want_label[] = {0, 1, 0}; /* names numbered over all rows, before --where */
  fi_import_row row;
  int n = 0, good = 1;
  while (im && fi_import_next(im, &row)) {
    good &= n < 3 && !strcmp(row.id, want_id[n]) && row.label == want_label[n] &&
            !strcmp(fi_csv_field(fi_import_csv(im), text, NULL), want_text[n]) && row.group && row.label_name;
    n++;
  }
  ok(good && n == 3, "the rows --where keeps, with generated ids counting all rows (%d rows)", n);
  const char *classes = im ? fi_import_classes(im) : "";
  ok(!strcmp(classes, "good=0 bad=1"), "classes in order of first appearance: %s", classes);
  fi_import_close(im);
  unlink(path);
  printf("1..%d\n", tap_n);
  return tap_failed != 0;
}
