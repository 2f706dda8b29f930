/* sniff.c - what a wrongly given file is, from its first bytes. */
#include "sniff.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

static int starts(const unsigned char *p, size_t n, const char *magic, size_t m) {
  return n >= m && !memcmp(p, magic, m);
}

/* UTF-8 text without control characters other than tab, CR and LF; a
 * sequence cut by the end of the sample is fine. Short binary files are not
 * text: a 1-byte "*" is the msgpack integer 42 as much as a character. */
static int is_text(const unsigned char *p, size_t n) {
  if (n < 2) return 0;
  for (size_t i = 0; i < n; i++)
    if ((p[i] < 0x20 && p[i] != '\t' && p[i] != '\n' && p[i] != '\r') || p[i] == 0x7f) return 0;
  long bad = fi_utf8_invalid_at(p, n);
  if (bad >= 0 && (size_t)bad + 4 <= n) return 0;
  return memchr(p, '\n', n) != NULL || n >= 16;
}

static int is_faiss(const unsigned char *p, size_t n) {
  /* FAISS index files start with a four-letter code ("IxF2" for IndexFlatL2,
   * "IHNf" for HNSW, "IwFl" for IVF...) followed by a little-endian int32. */
  if (n < 8 || p[0] != 'I' || (p[1] != 'x' && p[1] != 'w' && p[1] != 'H')) return 0;
  for (int i = 2; i < 4; i++)
    if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9'))) return 0;
  for (size_t i = 4; i < n && i < 16; i++)
    if (p[i] < 0x09) return 1;
  return 0;
}

static int is_idx(const unsigned char *p, size_t n) {
  static const unsigned char types[] = {0x08, 0x09, 0x0b, 0x0c, 0x0d, 0x0e};
  if (n < 8 || p[0] || p[1] || !memchr(types, p[2], sizeof types) || p[3] < 1 || p[3] > 4) return 0;
  return n >= 4 + 4 * (size_t)p[3];
}

const char *fi_sniff(const unsigned char *p, size_t n, fi_want want) {
  const int model = want == FI_WANT_MODEL;
  const char *not = model ? "not a fastif model file" : "not a tensor stream";
  static char msg[512];
  const char *kind = NULL, *fix = NULL;
  if (n > 512) n = 512;
  if (starts(p, n, "PK\x03\x04", 4) || starts(p, n, "PK\x05\x06", 4)) {
    kind = "a zip archive (as PyTorch .pt files are)";
    fix = model ? "export a PyTorch model with examples/torch_export.py"
                : "write streams from Python with examples/fastif_stream.py; export a PyTorch model with examples/torch_export.py";
  } else if (n >= 2 && p[0] == 0x80 && p[1] >= 2 && p[1] <= 5) {
    kind = "a Python pickle (as older PyTorch .pt files are)";
    fix = model ? "export a PyTorch model with examples/torch_export.py"
                : "write streams from Python with examples/fastif_stream.py; export a PyTorch model with examples/torch_export.py";
  } else if (starts(p, n, "\x93NUMPY", 6)) {
    kind = "a numpy .npy array";
    fix = model ? "export a PyTorch model with examples/torch_export.py, or make one with train"
                : "write streams from Python with examples/fastif_stream.py";
  } else if (starts(p, n, "\x1f\x8b", 2)) {
    kind = "gzip-compressed";
    fix = model ? "decompress it with gzip -dc"
                : "import-csv and import-text read gzipped CSV as it is; decompress a gzipped stream with gzip -dc";
  } else if (starts(p, n, "\xfd" "7zXZ", 6)) {
    kind = "xz-compressed";
    fix = model ? "decompress it with xz -dc" : "decompress it with xz -dc (CSV then goes through import-csv or import-text)";
  } else if (is_idx(p, n)) {
    kind = "an IDX file (the MNIST format)";
    fix = model ? "import-idx makes examples of it, and train a model of those" : "import it with import-idx";
  } else if (is_faiss(p, n)) {
    kind = "a FAISS index (knn-select --build writes one)";
    fix = "it is searched with knn-select --index";
  } else {
    size_t skip = starts(p, n, "\xef\xbb\xbf", 3) ? 3 : 0; /* UTF-8 byte order mark */
    const unsigned char *t = p + skip;
    size_t m = n - skip;
    if (!is_text(t, m)) return NULL;
    size_t i = 0;
    while (i < m && (t[i] == ' ' || t[i] == '\t' || t[i] == '\r' || t[i] == '\n')) i++;
    if (i < m && (t[i] == '{' || t[i] == '[')) {
      if (starts(t + i, m - i, "{\"format\":\"fastif-model\"", 24)) {
        kind = "a model in JSON (as dump --single writes)";
        fix = model ? "turn it back into a model file with dump --single --reverse"
                    : "turn it back with dump --single --reverse; tools take a model with --model";
      } else {
        kind = starts(t + i, m - i, "{\"id\":", 6) ? "JSON lines (as dump writes)" : "JSON";
        fix = model ? "dump --reverse turns JSON lines into a stream; train makes a model from examples"
                    : "turn JSON lines into a stream with dump --reverse";
      }
    } else {
      const unsigned char *eol = memchr(t, '\n', m);
      size_t line = eol ? (size_t)(eol - t) : m;
      int csv = memchr(t, ',', line) || memchr(t, ';', line) || memchr(t, '\t', line);
      kind = csv ? "CSV text" : "text";
      fix = model ? "import-csv or import-text make examples of CSV, and train makes a model of those"
                  : "import CSV with import-csv (numeric columns) or import-text (a text column)";
    }
  }
  snprintf(msg, sizeof msg, "the file is %s, %s: %s", kind, not, fix);
  return msg;
}

const char *fi_sniff_record(const fi_record *rec, fi_want want) {
  static char msg[512];
  if (want == FI_WANT_STREAM) {
    fi_val f = fi_rec_get(rec, "format");
    uint32_t len;
    const char *s = fi_val_kind(f) == FI_V_STR ? fi_val_raw(f, &len) : NULL;
    if (!s || len != 12 || memcmp(s, "fastif-model", 12)) return NULL;
    return "the file is a fastif model file, not a record stream: tools take it with --model (dump --single shows it)";
  }
  if (!fi_rec_has(rec, "id")) return NULL;
  snprintf(msg, sizeof msg, "the file is a record stream (first record '%.80s'), not a model file: make a model with train",
           fi_rec_id(rec));
  return msg;
}

const char *fi_sniff_hint(const fi_record *rec, fi_want want) {
  static char msg[520];
  const char *s = fi_sniff_record(rec, want);
  if (!s) return "";
  snprintf(msg, sizeof msg, "; %s", s);
  return msg;
}
