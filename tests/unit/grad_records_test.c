/* grad_records_test.c - gradient records (lib/grad_records.h) written and
 * read back in the general layer-factor form of formats/gradients.md:
 * arbitrary layer names, rank r > 1 and r = 0, dense parts grad.PNAME,
 * against the dense vector built here from the definition; errors name the
 * record; a counted record (fi_wrecord) has the bytes of fi_wbegin with the
 * right count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "grad_records.h"
#include "stream.h"
#include "tap.h"
#include "util.h"

static char path[256];

static void fill(float *x, int64_t n, fi_rng *r) {
  for (int64_t i = 0; i < n; i++) x[i] = (float)fi_rng_normal(r);
}

static long file_bytes(const char *p, char *buf, long cap) {
  FILE *f = fopen(p, "rb");
  long n = f ? (long)fread(buf, 1, cap, f) : -1;
  if (f) fclose(f);
  return n;
}

/* Reads the stream at path (in a child: errors exit). */
static void read_stream(void *arg) {
  fi_reader *r = fi_reader_open(path);
  const fi_record *rec;
  fi_grad_layout *L = NULL;
  fi_grad_view *v = NULL;
  while ((rec = fi_read(r))) {
    if (!L) {
      L = fi_grad_layout_new(rec, -1);
      v = fi_grad_view_new(L);
    }
    fi_grad_read(L, rec, v);
  }
}

/* One record {id, params, a.head [ra, 3], delta.head [rd, 2]}. */
static void head_record(fi_writer *w, const char *id, const char *params, int64_t ra, int64_t rd,
                        const float *a, const float *d) {
  const int64_t sa[2] = {ra, 3}, sd[2] = {rd, 2};
  fi_wrecord(w, id);
  fi_wstr(w, "params", params);
  fi_wtensor(w, "a.head", FI_F32, 2, sa, a);
  fi_wtensor(w, "delta.head", FI_F32, 2, sd, d);
  fi_wrecord_end(w);
}

int main(void) {
  fi_set_progname("grad_records_test");
  snprintf(path, sizeof path, "%s/fastif-grad-records-%d.mp", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
           (int)getpid());
  fi_rng rng;
  fi_rng_seed(&rng, 5);
  /* Two layers with arbitrary names, one with a bias, and a dense part in
   * between; records of rank 3, 1 and 0. */
  const char *l1 = "encoder.layer.11.output.dense", *l2 = "head";
  const int64_t in1 = 5, out1 = 4, in2 = 3, out2 = 2, ne = 6; /* "emb.weight": 6 values */
  const char *params = "encoder.layer.11.output.dense.weight,encoder.layer.11.output.dense.bias,"
                       "emb.weight,head.weight";
  const int64_t P = out1 * in1 + out1 + ne + out2 * in2;
  const int64_t ranks[3] = {3, 1, 0};
  float A1[3][5 * 3], D1[3][4 * 3], A2[3][3 * 3], D2[3][2 * 3], E[3][6], want[3][40];
  fi_writer *w = fi_writer_open(path);
  for (int k = 0; k < 3; k++) {
    const int64_t r = ranks[k];
    fill(A1[k], r * in1, &rng);
    fill(D1[k], r * out1, &rng);
    fill(A2[k], r * in2, &rng);
    fill(D2[k], r * out2, &rng);
    fill(E[k], ne, &rng);
    /* the dense vector by the definition: sum over rows of delta a^T, then delta, ... */
    float *g = want[k];
    memset(g, 0, sizeof want[k]);
    for (int64_t t = 0; t < r; t++) {
      for (int64_t o = 0; o < out1; o++) {
        for (int64_t i = 0; i < in1; i++) g[o * in1 + i] += D1[k][t * out1 + o] * A1[k][t * in1 + i];
        g[out1 * in1 + o] += D1[k][t * out1 + o];
      }
      for (int64_t o = 0; o < out2; o++)
        for (int64_t i = 0; i < in2; i++)
          g[out1 * in1 + out1 + ne + o * in2 + i] += D2[k][t * out2 + o] * A2[k][t * in2 + i];
    }
    memcpy(g + out1 * in1 + out1, E[k], ne * sizeof *g);
    char id[16];
    snprintf(id, sizeof id, "r%d", k);
    /* a layer's factors, a dense part, the other layer: written field by field */
    fi_wrecord(w, id);
    fi_wstr(w, "params", params);
    const int64_t s1[2] = {r, in1}, s2[2] = {r, out1}, s3[2] = {r, in2}, s4[2] = {r, out2};
    char key[64];
    snprintf(key, sizeof key, "a.%s", l1);
    fi_wtensor(w, key, FI_F32, 2, s1, A1[k]);
    snprintf(key, sizeof key, "delta.%s", l1);
    fi_wtensor(w, key, FI_F32, 2, s2, D1[k]);
    fi_wf32(w, "grad.emb.weight", E[k], ne);
    if (r == 1) { /* the 1-D form of r = 1 */
      fi_wf32(w, "a.head", A2[k], in2);
      fi_wf32(w, "delta.head", D2[k], out2);
    } else {
      fi_wtensor(w, "a.head", FI_F32, 2, s3, A2[k]);
      fi_wtensor(w, "delta.head", FI_F32, 2, s4, D2[k]);
    }
    fi_wrecord_end(w);
  }
  fi_writer_close(w);

  fi_reader *r = fi_reader_open(path);
  const fi_record *rec;
  fi_grad_layout *L = NULL;
  fi_grad_view *v = NULL;
  float g[40];
  int k = 0;
  while ((rec = fi_read(r))) {
    if (!L) {
      L = fi_grad_layout_new(rec, P);
      v = fi_grad_view_new(L);
      ok(!L->whole && L->nparts == 4 && L->nlayers == 2 && L->P == P,
         "layout: 4 parts, 2 layers, P = %lld (want %lld)", (long long)L->P, (long long)P);
      ok(!strcmp(L->layers[0].name, l1) && L->layers[0].in == in1 && L->layers[0].out == out1 &&
             L->layers[0].weight == 0 && L->layers[0].bias == 1,
         "layer '%s': in %lld, out %lld, weight and bias", L->layers[0].name,
         (long long)L->layers[0].in, (long long)L->layers[0].out);
      ok(!strcmp(L->layers[1].name, l2) && L->layers[1].bias == -1 && L->parts[2].kind == FI_GPART_DENSE &&
             L->parts[2].off == out1 * in1 + out1 && L->parts[3].off == out1 * in1 + out1 + ne,
         "layer 'head' without bias after the dense part 'emb.weight' (offsets %lld, %lld)",
         (long long)L->parts[2].off, (long long)L->parts[3].off);
    }
    fi_grad_read(L, rec, v);
    ok(v->layer[0].r == ranks[k] && v->layer[1].r == ranks[k], "record %d: rank %lld read", k,
       (long long)v->layer[0].r);
    fi_grad_densify(L, v, g);
    float e = 0;
    for (int64_t i = 0; i < P; i++) e = fmaxf(e, fabsf(g[i] - want[k][i]));
    ok(e <= 1e-6f, "record %d (r = %lld): dense vector = sum_t delta_t a_t^T, delta, grad.PNAME (max err %g)",
       k, (long long)ranks[k], e);
    k++;
  }
  fi_reader_close(r);
  fi_grad_view_free(v);
  fi_grad_layout_free(L);
  ok(k == 3, "three records read");

  /* The counted record has the bytes of a record whose count is given. */
  static char b1[4096], b2[4096];
  w = fi_writer_open(path);
  fi_wbegin(w, "x", 3);
  fi_wstr(w, "label_kind", "gold");
  fi_wint(w, "label", 2);
  fi_wf32(w, "grad", want[0], P);
  fi_wend(w);
  fi_writer_close(w);
  long n1 = file_bytes(path, b1, sizeof b1);
  w = fi_writer_open(path);
  fi_wrecord(w, "x");
  fi_wstr(w, "label_kind", "gold");
  fi_wint(w, "label", 2);
  fi_wf32(w, "grad", want[0], P);
  fi_wrecord_end(w);
  fi_writer_close(w);
  long n2 = file_bytes(path, b2, sizeof b2);
  ok(n1 > 0 && n1 == n2 && !memcmp(b1, b2, (size_t)n1), "fi_wrecord = fi_wbegin with the count (%ld bytes)", n1);

  /* A parameter with neither factors nor a dense part, and factors whose
   * rows disagree, are errors naming the record. */
  char buf[1024];
  w = fi_writer_open(path);
  head_record(w, "bad1", "head.weight,other.weight", 1, 1, A2[1], D2[1]);
  fi_writer_close(w);
  int st = in_child(read_stream, NULL, buf, sizeof buf);
  ok(st == 1 && strstr(buf, "record 'bad1'") && strstr(buf, "other.weight"),
     "a parameter without factors or grad.PNAME: %.*s", (int)strcspn(buf, "\n"), buf);
  w = fi_writer_open(path);
  head_record(w, "ok", "head.weight", 1, 1, A2[1], D2[1]);
  head_record(w, "bad2", "head.weight", 3, 2, A2[0], D2[0]);
  fi_writer_close(w);
  st = in_child(read_stream, NULL, buf, sizeof buf);
  ok(st == 1 && strstr(buf, "record 'bad2'") && strstr(buf, "rows"),
     "a and delta with different r: %.*s", (int)strcspn(buf, "\n"), buf);
  unlink(path);
  return done_testing();
}
