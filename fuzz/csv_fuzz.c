/* csv_fuzz - the RFC 4180 CSV reader: header, rows, fields, column lookup. */
#include "csv.h"
#include "harness.h"

static void one(const uint8_t *data, size_t size) {
  FILE *f = fmemopen((void *)data, size, "r");
  if (!f) return;
  char err[256];
  fi_csv *c = fi_csv_fopen(f, "fuzz.csv", err, sizeof err);
  if (!c) {
    fclose(f);
    return;
  }
  fi_csv_set_max_row(c, 1 << 24); /* rows of several MiB too */
  if (fi_csv_header(c) == 0) {
    (void)fi_csv_column(c, "label");
    (void)fi_csv_column(c, "2");
    int r;
    while ((r = fi_csv_next(c)) == 1) {
      for (int i = 0; i < fi_csv_nfields(c); i++) {
        size_t n;
        const char *s = fi_csv_field(c, i, &n);
        if (strlen(s) > n) abort(); /* fields are NUL-terminated at n */
      }
      (void)fi_csv_line(c);
      (void)fi_csv_row(c);
    }
  }
  fi_csv_close(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  data = fuzz_expand(data, &size);
  FUZZ_RUN(one(data, size));
  return 0;
}
