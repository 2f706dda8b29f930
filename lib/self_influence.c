/* self_influence.c - g_i^T (C + lambda)^-1 g_i for every training record
 * (self_influence.h). */
#include "self_influence.h"

#include <stdlib.h>
#include <string.h>

#include "grad_records.h"
#include "influence.h"

int64_t fi_self_influence(const fi_curv *c, const double *lam, int64_t group, fi_reader *r,
                          fi_writer *w, fi_err *e) {
  const int64_t P = c->P;
  fi_grad_layout *L = NULL;
  fi_grad_view *v = NULL;
  float *G = fi_aligned(fi_mul_size(group, P, "self-influence group"), sizeof(float));
  float *S = fi_aligned(fi_mul_size(group, P, "self-influence group"), sizeof(float));
  fi_curv_ws *ws = fi_curv_ws_new(c);
  char **ids = NULL;
  float *scores = NULL;
  int64_t n = 0, cap = 0, ng = 0;
  int64_t status = 0;
  for (int eof = 0; !eof && !status;) {
    const fi_record *rec;
    ng = 0;
    while (ng < group && (rec = fi_read(r))) {
      if (!L) {
        if (!fi_grad_is_record(rec))
          fi_rec_die(rec, "not a gradient record (\"grad\", or \"params\" with factors a.NAME / "
                     "delta.NAME or dense parts grad.PNAME)");
        L = fi_grad_layout_new(rec, -1);
        v = fi_grad_view_new(L);
        if (fi_curv_check_vectors(c, L->P, L->params, e)) {
          status = -1;
          break;
        }
      }
      fi_grad_read(L, rec, v);
      fi_grad_densify(L, v, G + ng * P);
      if (n + ng == cap) {
        cap = cap ? 2 * cap : 1024;
        ids = fi_realloc(ids, fi_mul_size(cap, sizeof *ids, "ids"));
        scores = fi_realloc(scores, fi_mul_size(cap, sizeof *scores, "scores"));
      }
      ids[n + ng] = fi_strdup(fi_rec_id(rec));
      ng++;
    }
    if (ng < group) eof = 1;
    if (status || ng == 0) break;
    fi_curv_inverse(c, lam, ws, ng, G, S);
    for (int64_t i = 0; i < ng; i++) {
      double s = 0;
      for (int64_t k = 0; k < P; k++) s += (double)G[i * P + k] * S[i * P + k];
      scores[n + i] = (float)s;
    }
    n += ng;
    fi_progress("self-influence: %lld training records", (long long)n);
  }
  if (!status && n == 0) fi_die("no gradient records on %s", fi_reader_name(r));
  if (!status) fi_scores_write(w, "self", (const char *const *)ids, scores, n);
  for (int64_t i = 0; i < n; i++) free(ids[i]);
  free(ids);
  free(scores);
  free(G);
  free(S);
  fi_curv_ws_free(ws);
  fi_grad_view_free(v);
  fi_grad_layout_free(L);
  return status ? -1 : n;
}
