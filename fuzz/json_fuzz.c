/* json_fuzz - dump --reverse's JSON parser; whatever it accepts must be a
 * valid record that reads back and renders to JSON again. */
#include "harness.h"
#include "json.h"
#include "stream.h"

static fi_json_parser *P;

static void one(const uint8_t *data, size_t size, char *path) {
  size_t n, col;
  const char *why;
  const void *enc = fi_json_parse(P, (const char *)data, size, 1, &n, &col, &why);
  if (!enc) return;
  int fd;
  fuzz_memfile(enc, n, &fd, path, 64);
  fi_reader *r = fi_reader_open(path);
  const fi_record *rec = fi_read(r);
  if (!rec) abort();
  fi_jbuf jb = {0};
  fi_json_record(rec, &jb);
  fi_jbuf_free(&jb);
  fi_reader_close(r);
  close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[64];
  data = fuzz_expand(data, &size);
  if (!P) P = fi_json_parser_new();
  FUZZ_RUN(one(data, size, path));
  return 0;
}
