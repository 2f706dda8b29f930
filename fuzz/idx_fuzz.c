/* idx_fuzz - the IDX reader (raw or gzip): header checks, every item. */
#include "harness.h"
#include "idx.h"

static void one(const char *path) {
  char err[256];
  fi_idx *x = fi_idx_open(path, 0, err, sizeof err);
  if (!x) return;
  int64_t n = fi_idx_item_size(x);
  if (n > 0 && n <= (1 << 20)) {
    float *buf = malloc((size_t)n * sizeof(float));
    while (fi_idx_next_f32(x, buf) == 1) {}
    free(buf);
  }
  fi_idx_close(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  data = fuzz_expand(data, &size);
  int fd;
  char path[64];
  fuzz_memfile(data, size, &fd, path, sizeof path);
  FUZZ_RUN(one(path));
  close(fd);
  return 0;
}
