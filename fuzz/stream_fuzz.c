/* stream_fuzz - the msgpack stream reader and everything that reads fields
 * out of a record: ids, ints, floats, strings, string arrays, tensors (any
 * dtype, converted to f32), scored lists, and the JSON rendering of dump. */
#include "harness.h"
#include "json.h"
#include "stream.h"

static fi_reader *r;   /* closed by the caller, also after a rejected input */
static fi_jbuf jb;

static void one(const char *path) {
  r = fi_reader_open(path);
  const fi_record *rec;
  while ((rec = fi_read(r))) {
    (void)fi_rec_id(rec);
    int nf = fi_rec_nfields(rec);
    for (int i = 0; i < nf; i++) (void)fi_rec_key_at(rec, i);
    jb.n = 0;
    fi_json_record(rec, &jb);
    int64_t v;
    double d;
    const char **ids;
    const float *f, *sc;
    const int32_t *iv;
    fi_tensor t;
    fi_rec_int(rec, "label", &v, 0);
    fi_rec_double(rec, "loss", &d, 0);
    fi_rec_str(rec, "text", NULL, 0);
    fi_rec_strs(rec, "ids", &ids, 0);
    fi_rec_tensor(rec, "shape_probe", &t, 0);
    fi_rec_f32(rec, "x", -1, &f, 0);
    fi_rec_i32(rec, "tokens", &iv, 0);
    fi_rec_scored(rec, "helpful", &ids, &sc, 0);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  data = fuzz_expand(data, &size);
  int fd;
  char path[64];
  fuzz_memfile(data, size, &fd, path, sizeof path);
  FUZZ_RUN(one(path));
  fi_reader_close(r);
  r = NULL;
  close(fd);
  return 0;
}
