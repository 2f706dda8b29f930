/* curvature_check_test.c - fi_curv_check_layout: a curvature fitted on a
 * layer of in 5, out 4 (with bias, P = 24) against vectors over the same
 * params and P but in 3, out 6: P and the params string agree
 * (fi_curv_check_vectors passes), the layout does not, and the error names
 * the layer; the layout it was fitted on passes. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "curvature.h"
#include "grad_records.h"
#include "stream.h"
#include "tap.h"
#include "util.h"

/* n records over l.weight,l.bias with 2 rows of a [2, in], delta [2, out]. */
static void write_grads(const char *path, int n, int64_t in, int64_t out) {
  float a[2 * 8], d[2 * 8];
  fi_writer *w = fi_writer_open(path);
  for (int k = 0; k < n; k++) {
    for (int i = 0; i < 2 * in; i++) a[i] = (float)((k * 7 + i * 3) % 11) - 5;
    for (int i = 0; i < 2 * out; i++) d[i] = (float)((k * 5 + i * 2) % 7) - 3;
    char id[32];
    snprintf(id, sizeof id, "r%d", k);
    const fi_grad_factor f = {.name = "l", .r = 2, .in = in, .out = out, .a = a, .delta = d};
    fi_grad_write_factored(w, id, "gold", 0, "l.weight,l.bias", 1, &f);
  }
  fi_writer_close(w);
}

/* The layout of path's first record. */
static fi_grad_layout *layout_of(const char *path) {
  fi_reader *r = fi_reader_open(path);
  fi_grad_layout *L = fi_grad_layout_new(fi_read(r), -1);
  fi_reader_close(r);
  return L;
}

int main(void) {
  char dir[] = "/tmp/fi-curvcheck-test.XXXXXX", train[64], test[64];
  if (!mkdtemp(dir)) return 1;
  snprintf(train, sizeof train, "%s/w54", dir);
  snprintf(test, sizeof test, "%s/w36", dir);
  write_grads(train, 20, 5, 4);
  write_grads(test, 1, 3, 6);
  fi_err e;
  fi_curv *c = fi_curv_fit(train, FI_CURV_KFAC, &e);
  fi_grad_layout *L54 = layout_of(train), *L36 = layout_of(test);
  ok(c && c->P == 24 && L36->P == 24, "both layouts have P = 24 (curvature %lld, test %lld)",
     (long long)(c ? c->P : -1), (long long)L36->P);
  ok(fi_curv_check_vectors(c, L36->P, L36->params, &e) == 0,
     "P and params agree: fi_curv_check_vectors alone passes in 3, out 6");
  memset(&e, 0, sizeof e);
  int st = fi_curv_check_layout(c, L36, L36->P, L36->params, &e);
  ok(st == -1 && e.kind == FI_ERR_DATA && strstr(e.msg, "layer 'l' (in 5, out 4)"),
     "fi_curv_check_layout refuses in 3, out 6 naming the layer: %s", e.msg);
  ok(fi_curv_check_layout(c, L54, L54->P, L54->params, &e) == 0, "... and passes the layout it was fitted on");
  ok(fi_curv_check_layout(c, NULL, 24, "l.weight,l.bias", &e) == 0, "... and, with no layout, checks P and params only");
  fi_grad_layout_free(L54);
  fi_grad_layout_free(L36);
  fi_curv_free(c);
  unlink(train);
  unlink(test);
  rmdir(dir);
  return done_testing();
}
