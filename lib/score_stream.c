/* score_stream.c - scoring a stream of gradient records against ihvp
 * records (score_stream.h). */
#include "score_stream.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "grad_records.h"
#include "influence.h"
#include "util.h"

/* Scratch of one GEMM chunk (floats): the rows of a batch are scored in
 * chunks so that the products of rows x tests stay this small. */
#define WORK_FLOATS ((int64_t)1 << 23)

typedef struct {            /* one factored layer of the gradient records */
  int64_t w;                /* a row's width: in, plus 1 for the bias */
  const fi_ihvp_flayer *F;  /* its factored s_test, or NULL: SW */
  float *SW;                /* [T*out, w]: row t*out+o = S_W,t[o, :], then s_b,t[o] */
  float *A, *D;             /* the batch's rows [rows, w], [rows, out] */
  int64_t R, rcap;          /* rows in the batch, allocated */
  int64_t *seg;             /* [records + 1]: record k's rows are seg[k] .. seg[k+1) */
} slayer;

typedef struct {            /* one dense part of the gradient records */
  const float *S;           /* its s_test block: test t at S + t*ld */
  int64_t ld;
  float *own;               /* the block when built from factors */
  float *G;                 /* the batch's values [records, numel] */
} spart;

typedef struct {            /* the stream's state */
  const fi_ihvps *h;
  const fi_model *m;
  const fi_psel *ps;
  char *pnames;             /* the selection's tensor names (with a model), or NULL */
  int64_t batch, rowcap;
  int64_t n, nb, kcap;      /* records scored, in the batch, room for in the batch */
  char **ids;               /* [n + nb] */
  float *sc;                /* [n, T], grows with the stream */
  int64_t idcap;
  fi_grad_layout *L;        /* from the first record */
  fi_grad_view *v;
  const float *Sd;          /* whole dense records: s_test [T, P] */
  float *Sown;              /* ... when densified from factors */
  float *G;                 /* whole dense records: [records, P] */
  slayer *sl;               /* per layer */
  spart *sp;                /* per part (used for dense parts) */
  float *work;
  int64_t wcap;
} gstream;

/* Test t's values of part i of the gradient layout. */
static void sblock(const gstream *g, int64_t t, int i, float *out) {
  const fi_ihvps *h = g->h;
  const fi_grad_part *pt = &g->L->parts[i];
  if (h->S) memcpy(out, h->S + t * h->P + pt->off, (size_t)pt->numel * sizeof(float));
  else fi_ihvps_part(h, t, i, out);
}

/* Whether the factored s_test has this gradient layer, with the same
 * parts and widths, in factored form. A weight factored on both sides over
 * other widths (in and out swapped keep the element counts plan()
 * compares) is an error naming rec: densifying would reshape one layer's
 * values into the other's. */
static const fi_ihvp_flayer *factored_layer(const gstream *g, const fi_grad_layer *l, const fi_record *rec) {
  const fi_ihvp_factors *F = g->h->F;
  if (!F) return NULL;
  int p = l->weight >= 0 ? l->weight : l->bias, j = F->parts[p].layer;
  if (j < 0) return NULL;
  const fi_ihvp_flayer *f = &F->layers[j];
  if (f->weight != l->weight || f->bias != l->bias) return NULL;
  if (l->weight < 0) return f->out == l->out && f->in == l->in ? f : NULL; /* a bias alone: in is a's width, unused */
  if (f->in != l->in || f->out != l->out)
    fi_rec_die(rec, "layer '%s' has in %lld, out %lld, but the ihvp records of %s factor it with in %lld, out %lld",
               l->name, (long long)l->in, (long long)l->out, g->h->path, (long long)f->in, (long long)f->out);
  return f;
}

/* The first record fixes the layout: it must fit the ihvp records (and
 * the model's selected tensors when there is a model); s_test is laid out
 * for the GEMMs once. */
static void plan(gstream *g, const fi_record *rec) {
  const fi_ihvps *h = g->h;
  const int64_t T = h->T, P = h->P;
  g->L = fi_grad_layout_new(rec, P);
  g->v = fi_grad_view_new(g->L);
  const fi_grad_layout *L = g->L;
  if (g->m && !L->whole) {
    if (L->nparts != g->ps->n)
      fi_rec_die(rec, "%d gradient parts, but %d selected tensors", L->nparts, g->ps->n);
    for (int i = 0; i < L->nparts; i++)
      if (L->parts[i].numel != fi_model_param_numel(g->m, g->ps->idx[i]))
        fi_rec_die(rec, "'%s' has %lld elements, the model's %lld", L->parts[i].pname,
                   (long long)L->parts[i].numel, (long long)fi_model_param_numel(g->m, g->ps->idx[i]));
  }
  if (h->F && !L->whole) { /* the same params, part by part */
    if (h->F->nparts != L->nparts)
      fi_rec_die(rec, "%d gradient parts, but the ihvp records of %s have %d", L->nparts, h->path,
                 h->F->nparts);
    for (int i = 0; i < L->nparts; i++)
      if (strcmp(h->F->parts[i].pname, L->parts[i].pname) || h->F->parts[i].numel != L->parts[i].numel)
        fi_rec_die(rec, "gradient part '%s' (%lld values) is not the ihvp records' '%s' (%lld)",
                   L->parts[i].pname, (long long)L->parts[i].numel, h->F->parts[i].pname,
                   (long long)h->F->parts[i].numel);
  }
  if (L->whole) {
    if (h->S) {
      g->Sd = h->S;
    } else {
      g->Sown = fi_aligned(fi_mul_size(T, P, "ihvp"), sizeof(float));
      for (int64_t t = 0; t < T; t++)
        for (int i = 0; i < h->F->nparts; i++) fi_ihvps_part(h, t, i, g->Sown + t * P + h->F->parts[i].off);
      g->Sd = g->Sown;
    }
    return;
  }
  g->sl = fi_calloc(L->nlayers ? L->nlayers : 1, sizeof *g->sl);
  g->sp = fi_calloc(L->nparts, sizeof *g->sp);
  for (int j = 0; j < L->nlayers; j++) {
    const fi_grad_layer *l = &L->layers[j];
    slayer *s = &g->sl[j];
    s->w = l->in + (l->bias >= 0);
    if ((s->F = factored_layer(g, l, rec))) continue;
    s->SW = fi_aligned(fi_mul_size(T * l->out, s->w, "stacked ihvp"), sizeof(float));
    float *blk = fi_aligned(fi_mul_size(l->out, l->in, "ihvp block"), sizeof(float));
    for (int64_t t = 0; t < T; t++) {
      float *rows = s->SW + t * l->out * s->w;
      if (l->weight >= 0) sblock(g, t, l->weight, blk);
      for (int64_t o = 0; o < l->out; o++) {
        if (l->weight >= 0) memcpy(rows + o * s->w, blk + o * l->in, (size_t)l->in * sizeof(float));
        else memset(rows + o * s->w, 0, (size_t)l->in * sizeof(float));
      }
      if (l->bias >= 0) {
        sblock(g, t, l->bias, blk);
        for (int64_t o = 0; o < l->out; o++) rows[o * s->w + l->in] = blk[o];
      }
    }
    free(blk);
  }
  for (int i = 0; i < L->nparts; i++) {
    const fi_grad_part *pt = &L->parts[i];
    spart *p = &g->sp[i];
    if (pt->kind != FI_GPART_DENSE) continue;
    if (h->S) {
      p->S = h->S + pt->off;
      p->ld = P;
    } else if (h->F->parts[i].layer < 0) {
      p->S = h->F->parts[i].s;
      p->ld = pt->numel;
    } else {
      p->own = fi_aligned(fi_mul_size(T, pt->numel, "ihvp block"), sizeof(float));
      for (int64_t t = 0; t < T; t++) fi_ihvps_part(h, t, i, p->own + t * pt->numel);
      p->S = p->own;
      p->ld = pt->numel;
    }
  }
}

/* buf [keep, width] moved into a new buffer of rows rows. */
static float *regrow(float *old, int64_t keep, int64_t rows, int64_t width) {
  float *p = fi_aligned(fi_mul_size(rows, width, "gradient batch"), sizeof(float));
  if (old && keep) memcpy(p, old, (size_t)(keep * width) * sizeof(float));
  free(old);
  return p;
}

/* Room for one more record in the batch: the buffers grow with the
 * records actually read, never to --batch up front. */
static void room_record(gstream *g) {
  if (g->nb < g->kcap) return;
  int64_t k = g->kcap ? 2 * g->kcap : 64;
  if (k > g->batch) k = g->batch;
  const fi_grad_layout *L = g->L;
  if (L->whole) {
    g->G = regrow(g->G, g->nb, k, g->h->P);
  } else {
    for (int j = 0; j < L->nlayers; j++)
      g->sl[j].seg = fi_realloc(g->sl[j].seg, fi_mul_size(k + 1, sizeof *g->sl[j].seg, "batch"));
    for (int i = 0; i < L->nparts; i++)
      if (L->parts[i].kind == FI_GPART_DENSE) g->sp[i].G = regrow(g->sp[i].G, g->nb, k, L->parts[i].numel);
  }
  g->kcap = k;
}

/* Append one record's gradient to the batch. */
static void add_record(gstream *g, const fi_record *rec) {
  const int64_t T = g->h->T, nb = g->nb;
  /* training gradients: under the gold label, over the ihvp records' parameters */
  const fi_grad_expect e = {.label_kind = "gold", .label_fix = "grad --label", .pnames = g->pnames,
                            .spec = g->h->params, .params_opt = "--params"};
  fi_grad_check(rec, &e);
  if (!g->L) plan(g, rec);
  if (g->n + nb >= g->idcap) {
    g->idcap = g->idcap ? 2 * g->idcap : 1024;
    g->ids = fi_realloc(g->ids, fi_mul_size(g->idcap, sizeof *g->ids, "ids"));
    g->sc = fi_realloc(g->sc, fi_mul_size(fi_mul_size(g->idcap, T, "scores"), sizeof(float), "scores"));
  }
  g->ids[g->n + nb] = fi_strdup(fi_rec_id(rec));
  room_record(g);
  const fi_grad_layout *L = g->L;
  fi_grad_read(L, rec, g->v);
  if (L->whole) {
    memcpy(g->G + nb * L->P, g->v->g, (size_t)L->P * sizeof(float));
    g->nb++;
    return;
  }
  for (int j = 0; j < L->nlayers; j++) {
    const fi_grad_layer *l = &L->layers[j];
    const fi_grad_rows *x = &g->v->layer[j];
    slayer *s = &g->sl[j];
    if (nb == 0) s->R = s->seg[0] = 0;
    if (s->R + x->r > s->rcap) {
      int64_t c = s->rcap ? 2 * s->rcap : 64;
      if (c < s->R + x->r) c = s->R + x->r;
      s->A = regrow(s->A, s->R, c, s->w);
      s->D = regrow(s->D, s->R, c, l->out);
      s->rcap = c;
    }
    for (int64_t u = 0; u < x->r; u++) { /* [a, 1]; zeros for a weight not selected */
      float *row = s->A + (s->R + u) * s->w;
      if (l->weight >= 0) memcpy(row, x->a + u * l->in, (size_t)l->in * sizeof(float));
      else memset(row, 0, (size_t)l->in * sizeof(float));
      if (l->bias >= 0) row[l->in] = 1.0f;
    }
    if (x->r) memcpy(s->D + s->R * l->out, x->delta, (size_t)(x->r * l->out) * sizeof(float));
    s->R += x->r;
    s->seg[nb + 1] = s->R;
  }
  for (int i = 0; i < L->nparts; i++)
    if (L->parts[i].kind == FI_GPART_DENSE)
      memcpy(g->sp[i].G + nb * L->parts[i].numel, g->v->dense[i], (size_t)L->parts[i].numel * sizeof(float));
  g->nb++;
}

/* Whether the batch is full: batch records, or rowcap rows of a layer. */
static int batch_full(const gstream *g) {
  if (g->nb == g->batch) return 1;
  if (g->L && !g->L->whole)
    for (int j = 0; j < g->L->nlayers; j++)
      if (g->sl[j].R >= g->rowcap) return 1;
  return 0;
}

static float *scratch(gstream *g, int64_t n) {
  if (n > g->wcap) {
    free(g->work);
    g->wcap = n;
    g->work = fi_aligned(n, sizeof(float));
  }
  return g->work;
}

/* out[k, t] -= the layer's share of record k's score on test t. */
static void score_layer(gstream *g, const fi_grad_layer *l, slayer *s, float *out) {
  const int64_t T = g->h->T, o = l->out, w = s->w;
  if (s->R == 0) return;
  int64_t k = 0; /* the record of row u: seg[k] <= u < seg[k+1] */
  /* Against dense s_test a batch costs R*T*out*w multiply-adds through the
   * stacked rows, or R*out*w + nb*T*out*w through each record's dense
   * gradient: the second wins once records have more than one row (r > 1
   * and T > 1: r*T > r + T) and is used then. */
  const int64_t nb = g->nb;
  if (!s->F && (double)s->R * T > (double)s->R + (double)nb * T) {
    /* G_k = D_k^T A_k [out, w] per record; one GEMM of a chunk of them,
     * [records, out*w], with SW seen as [T, out*w] */
    const int64_t ow = o * w, cb = WORK_FLOATS / ow > 0 ? WORK_FLOATS / ow : 1;
    float *Gc = scratch(g, (cb < nb ? cb : nb) * ow);
    for (int64_t k0 = 0; k0 < nb; k0 += cb) {
      const int64_t nk = nb - k0 < cb ? nb - k0 : cb;
      for (int64_t q = k0; q < k0 + nk; q++) {
        const int64_t u0 = s->seg[q], r = s->seg[q + 1] - u0;
        float *gq = Gc + (q - k0) * ow;
        if (r == 0) memset(gq, 0, (size_t)ow * sizeof(float));
        else fi_gemm(1, 0, o, w, r, 1.0f, s->D + u0 * o, o, s->A + u0 * w, w, 0.0f, gq, w);
      }
      fi_gemm(0, 1, nk, T, ow, -1.0f, Gc, ow, s->SW, ow, 1.0f, out + k0 * T, T);
    }
    return;
  }
  if (!s->F) {   /* Y = rows x SW^T: [rows, T*out]; score = delta_u . Y[u, t-th block] */
    const int64_t To = T * o, rc = WORK_FLOATS / To > 0 ? WORK_FLOATS / To : 1;
    float *Y = scratch(g, (rc < s->R ? rc : s->R) * To);
    for (int64_t u0 = 0; u0 < s->R; u0 += rc) {
      const int64_t nr = s->R - u0 < rc ? s->R - u0 : rc;
      fi_gemm(0, 1, nr, To, w, 1.0f, s->A + u0 * w, w, s->SW, w, 0.0f, Y, To);
      for (int64_t u = u0; u < u0 + nr; u++) {
        while (s->seg[k + 1] <= u) k++;
        const float *d = s->D + u * o, *y = Y + (u - u0) * To;
        for (int64_t t = 0; t < T; t++) {
          double z = 0;
          for (int64_t q = 0; q < o; q++) z += (double)d[q] * y[t * o + q];
          out[k * T + t] -= (float)z;
        }
      }
    }
    return;
  }
  /* factored: M1 = rows x sa^T, M2 = delta x sd^T, both [rows, Rs];
   * score = sum over the (record, test) block of M1 .* M2 */
  const fi_ihvp_flayer *F = s->F;
  const int64_t Rs = F->off[T];
  if (Rs == 0) return;
  const int64_t rc = WORK_FLOATS / (2 * Rs) > 0 ? WORK_FLOATS / (2 * Rs) : 1;
  const int64_t nmax = rc < s->R ? rc : s->R;
  float *M1 = scratch(g, 2 * nmax * Rs), *M2 = M1 + nmax * Rs;
  for (int64_t u0 = 0; u0 < s->R; u0 += rc) {
    const int64_t nr = s->R - u0 < rc ? s->R - u0 : rc;
    fi_gemm(0, 1, nr, Rs, w, 1.0f, s->A + u0 * w, w, F->sa, w, 0.0f, M1, Rs);
    fi_gemm(0, 1, nr, Rs, o, 1.0f, s->D + u0 * o, o, F->sd, o, 0.0f, M2, Rs);
    for (int64_t u = u0; u < u0 + nr; u++) {
      while (s->seg[k + 1] <= u) k++;
      const float *m1 = M1 + (u - u0) * Rs, *m2 = M2 + (u - u0) * Rs;
      for (int64_t t = 0; t < T; t++) {
        double z = 0;
        for (int64_t v = F->off[t]; v < F->off[t + 1]; v++) z += (double)m1[v] * m2[v];
        out[k * T + t] -= (float)z;
      }
    }
  }
}

/* Score the batch: rows n..n+nb of sc. */
static void score_batch(gstream *g) {
  const int64_t T = g->h->T, nb = g->nb;
  const fi_grad_layout *L = g->L;
  float *out = g->sc + g->n * T; /* [nb, T] */
  if (L->whole) {
    fi_gemm(0, 1, nb, T, L->P, -1.0f, g->G, L->P, g->Sd, L->P, 0.0f, out, T);
  } else {
    memset(out, 0, (size_t)(nb * T) * sizeof(float));
    for (int j = 0; j < L->nlayers; j++) score_layer(g, &L->layers[j], &g->sl[j], out);
    for (int i = 0; i < L->nparts; i++)
      if (L->parts[i].kind == FI_GPART_DENSE) /* out -= G_part S_part^T */
        fi_gemm(0, 1, nb, T, L->parts[i].numel, -1.0f, g->sp[i].G, L->parts[i].numel, g->sp[i].S,
                g->sp[i].ld, 1.0f, out, T);
  }
  /* scores of finite inputs are finite: a non-finite one is an overflowing gradient */
  for (int64_t i = 0; i < nb; i++)
    for (int64_t t = 0; t < T; t++)
      if (!isfinite(out[i * T + t]))
        fi_die("record '%s': its influence score on test '%s' is %s (its loss gradient overflows: "
               "the inputs or the model's weights overflow float arithmetic)",
               g->ids[g->n + i], g->h->ids[t], isnan(out[i * T + t]) ? "NaN" : "infinite");
  g->n += nb;
  g->nb = 0;
  fi_progress("%lld gradients", (long long)g->n);
}

static void gstream_free(gstream *g) {
  for (int64_t i = 0; i < g->n; i++) free(g->ids[i]);
  free(g->ids);
  free(g->sc);
  free(g->pnames);
  free(g->G);
  free(g->Sown);
  free(g->work);
  if (g->L && !g->L->whole) {
    for (int j = 0; j < g->L->nlayers; j++) {
      free(g->sl[j].SW);
      free(g->sl[j].A);
      free(g->sl[j].D);
      free(g->sl[j].seg);
    }
    for (int i = 0; i < g->L->nparts; i++) {
      free(g->sp[i].own);
      free(g->sp[i].G);
    }
  }
  free(g->sl);
  free(g->sp);
  fi_grad_view_free(g->v);
  fi_grad_layout_free(g->L);
}

long long fi_score_gradient_stream(const fi_ihvps *h, const fi_model *m, const fi_psel *ps,
                                   int64_t batch, fi_reader *r, fi_writer *w) {
  const int64_t T = h->T;
  gstream g = {.h = h, .m = m, .ps = ps, .batch = batch, .rowcap = 4 * batch,
               .pnames = m ? fi_psel_names(m, ps) : NULL};
  for (;;) {
    const fi_record *rec = fi_read(r);
    if (rec) add_record(&g, rec);
    if ((rec && batch_full(&g)) || (!rec && g.nb > 0)) score_batch(&g);
    if (!rec) break;
  }
  fi_progress_end();
  const int64_t n = g.n;
  if (n == 0) fi_die("no gradient records on %s (nothing to score)", fi_reader_name(r));
  float *col = fi_malloc(fi_mul_size(n, sizeof(float), "scores"));
  for (int64_t t = 0; t < T; t++) {
    for (int64_t i = 0; i < n; i++) col[i] = g.sc[i * T + t];
    fi_scores_write(w, h->ids[t], (const char *const *)g.ids, col, n);
  }
  fi_log("%lld gradient records x %lld ihvp records%s", (long long)n, (long long)T,
         h->F ? " (factored s_test)" : "");
  free(col);
  gstream_free(&g);
  return (long long)T;
}
