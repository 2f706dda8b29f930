/* model_fuzz - the model file loader (formats/model.md): header, arch
 * limits, every parameter's dtype/shape/values. */
#include "harness.h"
#include "model.h"

static void one(const char *path) {
  fi_model *m = fi_model_load(path);
  fi_model_free(m);
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
