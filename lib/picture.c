/* picture.c - ranked streams as pictures (picture.h). The layout's
 * constants and formulas are the ones formats/picture.md documents (the
 * tests decode the PNG and check pixels at those positions). */
#include "picture.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "font.h"
#include "join.h"
#include "png.h"
#include "strset.h"
#include "util.h"

enum {
  PAD = 4,            /* inside every cell, and above the first line */
  GAP = 8,            /* between the test column, helpful group and harmful group */
  LH = FI_FONT_H_PX + 2, /* a text line */
  TEXT_CHARS = 22,    /* a cell is at least this many characters wide */
  AUTO_SIDE = 96,     /* auto zoom: the smallest making the longer side this long */
  MAX_DIM = 1 << 16,  /* any image side, declared or read */
};
#define MAX_STRIP_BYTES ((size_t)1 << 30) /* one row of tiles in memory */

static const uint8_t BLACK[3] = {0, 0, 0},
                     GREY[3] = {96, 96, 96}, GREEN[3] = {0, 120, 0}, RED[3] = {200, 0, 0},
                     DARKRED[3] = {150, 0, 0};

/* ---- spec parsing ---- */

static int split2(const char *s, char *a, char *b, size_t n) {
  const char *comma = strchr(s, ',');
  if (!comma || (size_t)(comma - s) >= n || strlen(comma + 1) >= n) return -1;
  memcpy(a, s, (size_t)(comma - s));
  a[comma - s] = 0;
  strcpy(b, comma + 1);
  return 0;
}

int fi_picture_parse_shape(const char *s, fi_picture_spec *sp, char *err, size_t errlen) {
  long long v[3] = {0, 0, 1};
  int k = 0;
  char buf[64];
  if (strlen(s) >= sizeof buf) goto bad;
  strcpy(buf, s);
  for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
    if (k == 3 || fi_parse_ll(t, &v[k]) || v[k] < 1 || v[k] > MAX_DIM) goto bad;
    k++;
  }
  if (k < 2 || (v[2] != 1 && v[2] != 3) || s[strlen(s) - 1] == ',') goto bad;
  sp->h = v[0], sp->w = v[1], sp->c = v[2];
  return 0;
bad:
  snprintf(err, errlen, "'%s' is not H,W or H,W,C (sides 1..%d, C = 1 grey or 3 RGB)", s, MAX_DIM);
  return -1;
}

int fi_picture_parse_range(const char *s, fi_picture_spec *sp, char *err, size_t errlen) {
  char a[64], b[64];
  double lo, hi;
  if (split2(s, a, b, sizeof a) || fi_parse_double(a, &lo) || fi_parse_double(b, &hi) ||
      !isfinite(lo) || !isfinite(hi) || !(lo < hi)) {
    snprintf(err, errlen, "'%s' is not LO,HI (finite numbers, LO < HI)", s);
    return -1;
  }
  sp->lo = lo, sp->hi = hi;
  return 0;
}

/* ---- the picture's content ---- */

typedef struct {   /* the shown examples of one side (training or test), by id */
  fi_strset *ids;
  int64_t cap;
  uint8_t **pix;                /* h*w*c bytes after scaling; NULL = none yet */
  fi_join *fields;              /* label, pred, label_name, pred_name */
  struct fi_picture *p;         /* (for the loader's callback) */
  int need_image;
} shown;

typedef struct {
  int64_t t;                    /* index into the test side */
  int64_t nlist[2];             /* helpful, harmful (at most m each) */
  int64_t *train[2];            /* indices into the training side */
  float *score[2];
  int64_t label, pred;          /* from the ranked record (rank --query) */
  char *label_name, *pred_name;
} row;

struct fi_picture {
  fi_picture_spec sp;
  char *field, *title;
  int64_t h, w, c;              /* 0 until declared or read */
  row *rows;
  int64_t nrows, rcap, nentries;
  shown train, test;
};

static void shown_init(shown *s) {
  s->ids = fi_strset_new();
  s->fields = fi_join_new();
}

static int64_t shown_add(shown *s, const char *id) {
  int64_t i = fi_strset_add(s->ids, id);
  if (i < 0) return -1 - i;
  if (i >= s->cap) {
    s->cap = s->cap ? 2 * s->cap : 64;
    s->pix = fi_realloc(s->pix, fi_mul_size((size_t)s->cap, sizeof *s->pix, "shown ids"));
  }
  s->pix[i] = NULL;
  return i;
}

static void shown_free(shown *s) {
  for (int64_t i = 0; i < fi_strset_count(s->ids); i++) free(s->pix[i]);
  free(s->pix);
  fi_strset_free(s->ids);
  fi_join_free(s->fields);
}

fi_picture *fi_picture_new(const fi_picture_spec *spec) {
  fi_picture *p = fi_calloc(1, sizeof *p);
  p->sp = *spec;
  p->field = fi_strdup(spec->field ? spec->field : "x");
  p->title = spec->title ? fi_strdup(spec->title) : NULL;
  p->h = spec->h, p->w = spec->w, p->c = spec->h ? spec->c : 0;
  shown_init(&p->train);
  shown_init(&p->test);
  return p;
}

void fi_picture_free(fi_picture *p) {
  if (!p) return;
  for (int64_t r = 0; r < p->nrows; r++) {
    for (int k = 0; k < 2; k++) {
      free(p->rows[r].train[k]);
      free(p->rows[r].score[k]);
    }
    free(p->rows[r].label_name);
    free(p->rows[r].pred_name);
  }
  free(p->rows);
  shown_free(&p->train);
  shown_free(&p->test);
  free(p->field);
  free(p->title);
  free(p);
}

static char *opt_str(const fi_record *rec, const char *key) {
  const char *s = fi_rec_str(rec, key, NULL, 0);
  return s ? fi_strdup(s) : NULL;
}

static int64_t opt_int(const fi_record *rec, const char *key) {
  int64_t v;
  return fi_rec_int(rec, key, &v, 0) ? v : -1;
}

void fi_picture_add(fi_picture *p, const fi_record *rec) {
  static const char *const lists[2] = {"helpful", "harmful"};
  if (p->nrows == p->rcap) {
    p->rcap = p->rcap ? 2 * p->rcap : 16;
    p->rows = fi_realloc(p->rows, fi_mul_size((size_t)p->rcap, sizeof *p->rows, "ranked records"));
  }
  row *r = &p->rows[p->nrows];
  memset(r, 0, sizeof *r);
  for (int k = 0; k < 2; k++) {
    const char **ids;
    const float *sc;
    int64_t n = fi_rec_scored(rec, lists[k], &ids, &sc, 1);
    if (n > p->sp.m) n = p->sp.m;
    r->train[k] = fi_malloc(fi_mul_size((size_t)n + 1, sizeof *r->train[k], "ranked entries"));
    r->score[k] = fi_malloc(fi_mul_size((size_t)n + 1, sizeof *r->score[k], "ranked entries"));
    for (int64_t i = 0; i < n; i++) {
      r->train[k][i] = shown_add(&p->train, ids[i]);
      r->score[k][i] = sc[i];
    }
    r->nlist[k] = n;
    p->nentries += n;
  }
  r->t = shown_add(&p->test, fi_rec_id(rec));
  r->label = opt_int(rec, "label");
  r->pred = opt_int(rec, "pred");
  r->label_name = opt_str(rec, "label_name");
  r->pred_name = opt_str(rec, "pred_name");
  p->nrows++;
}

int64_t fi_picture_rows(const fi_picture *p) { return p->nrows; }
int64_t fi_picture_entries(const fi_picture *p) { return p->nentries; }

/* ---- images ---- */

/* The shape of the first image, when none was declared: a 2-D tensor is
 * grey H x W, a 3-D one H x W x C (C x H x W for planes), a 1-D one of
 * s*s values a grey square. */
static void shape_from(fi_picture *p, const fi_record *rec, const fi_tensor *t) {
  int64_t h = 0, w = 0, c = 1;
  if (t->ndim == 2) h = t->shape[0], w = t->shape[1];
  else if (t->ndim == 3 && p->sp.chw) c = t->shape[0], h = t->shape[1], w = t->shape[2];
  else if (t->ndim == 3) h = t->shape[0], w = t->shape[1], c = t->shape[2];
  else if (t->ndim == 1) {
    int64_t s = (int64_t)llround(sqrt((double)t->n));
    if (s * s == t->n) h = w = s;
  }
  if (h < 1 || w < 1 || h > MAX_DIM || w > MAX_DIM || (c != 1 && c != 3))
    fi_rec_die(rec, "cannot tell the image shape of '%s' (a %d-D tensor of %lld values): declare "
               "it with --shape H,W[,C]", p->field, t->ndim, (long long)t->n);
  p->h = h, p->w = w, p->c = c;
}

/* Scale one image to bytes: v -> floor(255 * clamp((v - lo) / (hi - lo), 0, 1) + 0.5),
 * lo and hi fixed or the image's own minimum and maximum (a constant image
 * is all 0); inverted: 255 minus that. Stored as h x w pixels of c bytes. */
static uint8_t *scale_image(const fi_picture *p, const fi_record *rec) {
  const int64_t hw = p->h * p->w, n = hw * p->c;
  const float *v;
  int64_t got = fi_rec_f32(rec, p->field, -1, &v, 1);
  if (got != n)
    fi_rec_die(rec, "'%s' has %lld values, but the image shape %lldx%lldx%lld needs %lld", p->field,
               (long long)got, (long long)p->h, (long long)p->w, (long long)p->c, (long long)n);
  double lo = p->sp.lo, hi = p->sp.hi;
  if (!p->sp.fixed) {
    lo = hi = v[0];
    for (int64_t i = 1; i < n; i++) {
      if (v[i] < lo) lo = v[i];
      if (v[i] > hi) hi = v[i];
    }
  }
  uint8_t *out = fi_malloc((size_t)n);
  for (int64_t px = 0; px < hw; px++)
    for (int64_t ch = 0; ch < p->c; ch++) {
      double x = p->sp.chw ? v[ch * hw + px] : v[px * p->c + ch];
      double t = hi > lo ? (x - lo) / (hi - lo) : 0;
      if (t < 0) t = 0;
      if (t > 1) t = 1;
      int b = (int)floor(255.0 * t + 0.5);
      out[px * p->c + ch] = (uint8_t)(p->sp.invert ? 255 - b : b);
    }
  return out;
}

/* fi_join_each: the image of a shown record, the first time one is read. */
static void take_image(const fi_record *rec, void *ctx) {
  shown *s = ctx;
  fi_picture *p = s->p;
  int64_t i = fi_strset_find(s->ids, fi_rec_id(rec));
  if (s->pix[i]) return;
  if (!fi_rec_has(rec, p->field)) {
    if (s->need_image) fi_rec_die(rec, "no image field '%s'", p->field);
    return; /* predictions: another query file has the image */
  }
  if (!p->h) {
    fi_tensor t;
    fi_rec_tensor(rec, p->field, &t, 1);
    shape_from(p, rec, &t);
  }
  s->pix[i] = scale_image(p, rec);
}

int64_t fi_picture_load_train(fi_picture *p, const char *path) {
  p->train.p = p;
  p->train.need_image = 1;
  return fi_join_load_each(p->train.fields, path, p->train.ids, take_image, &p->train);
}

const char *fi_picture_load_queries(fi_picture *p, const char *paths) {
  p->test.p = p;
  return fi_join_load_list_each(p->test.fields, paths, p->test.ids, take_image, &p->test);
}

void fi_picture_check(const fi_picture *p, const char *trainpath, const char *querypaths) {
  for (int64_t q = 0; q < p->nrows; q++) {
    const row *r = &p->rows[q];
    const char *tid = fi_strset_at(p->test.ids, r->t);
    int seen = fi_join_find(p->test.fields, tid) != NULL;
    if (!p->test.pix[r->t])
      fi_die("test '%s': %s%s%s in %s", tid, seen ? "no image field '" : "no record",
             seen ? p->field : "", seen ? "'" : "", querypaths);
    for (int k = 0; k < 2; k++)
      for (int64_t i = 0; i < r->nlist[k]; i++)
        if (!p->train.pix[r->train[k][i]])
          fi_die("training example '%s' (ranked for test '%s'): no record in %s",
                 fi_strset_at(p->train.ids, r->train[k][i]), tid, trainpath);
  }
}

/* ---- layout and drawing ---- */

typedef struct {
  int zoom, iw, ih;        /* image box */
  int cw, ch;              /* cell */
  int chars;               /* text characters per cell line */
  int top;                 /* first row of tiles */
  int64_t cols;
  uint32_t width, height;
} layout;

static layout plan(const fi_picture *p) {
  layout L;
  int64_t side = p->h > p->w ? p->h : p->w;
  L.zoom = p->sp.zoom ? p->sp.zoom : (int)((AUTO_SIDE + side - 1) / side);
  if (L.zoom < 1) L.zoom = 1;
  int64_t iw = p->w * L.zoom, ih = p->h * L.zoom, minw = TEXT_CHARS * FI_FONT_ADVANCE;
  int64_t cw = (iw > minw ? iw : minw) + 2 * PAD, ch = 3 * PAD + ih + 3 * LH;
  L.cols = 1 + 2 * p->sp.m;
  int64_t width = L.cols * cw + 2 * GAP;
  int64_t top = PAD + (p->title ? LH + PAD : 0) + LH;
  int64_t height = top + p->nrows * ch;
  if (width > 0x7fffffff || height > 0x7fffffff ||
      (double)width * (double)ch * 3 > (double)MAX_STRIP_BYTES)
    fi_die("the picture would be %lld x %lld pixels (images %lldx%lld at zoom %d, %lld columns): "
           "too large; lower the zoom or the number of tiles", (long long)width, (long long)height,
           (long long)p->h, (long long)p->w, L.zoom, (long long)L.cols);
  L.iw = (int)iw, L.ih = (int)ih, L.cw = (int)cw, L.ch = (int)ch;
  L.chars = (L.cw - 2 * PAD) / FI_FONT_ADVANCE;
  L.top = (int)top;
  L.width = (uint32_t)width, L.height = (uint32_t)height;
  return L;
}

/* Left edge of column k: the test column, M helpful, M harmful, with a GAP
 * before each group. */
static int col_x(const fi_picture *p, const layout *L, int64_t k) {
  return (int)(k * L->cw + GAP * (k >= 1) + GAP * (k >= 1 + p->sp.m));
}

static void draw_image(const fi_picture *p, const layout *L, uint8_t *strip, int x, int y,
                       const uint8_t *pix) {
  int ox = x + PAD + (L->cw - 2 * PAD - L->iw) / 2, oy = y + PAD, z = L->zoom;
  for (int64_t i = 0; i < p->h; i++)
    for (int64_t j = 0; j < p->w; j++) {
      const uint8_t *s = pix + (i * p->w + j) * p->c;
      uint8_t rgb[3] = {s[0], s[0], s[0]}; /* grey */
      if (p->c == 3) rgb[1] = s[1], rgb[2] = s[2];
      for (int a = 0; a < z; a++) {
        uint8_t *d = strip + ((size_t)(oy + i * z + a) * L->width + (size_t)(ox + j * z)) * 3;
        for (int b = 0; b < z; b++, d += 3) d[0] = rgb[0], d[1] = rgb[1], d[2] = rgb[2];
      }
    }
}

/* Text line l (0..2) under the image of the cell at (x, y). */
static void draw_line(const layout *L, uint8_t *strip, int x, int y, int l, const char *s,
                      const uint8_t rgb[3]) {
  fi_font_draw(strip, (int)L->width, L->ch, x + PAD, y + 2 * PAD + L->ih + l * LH, s, L->chars, rgb);
}

/* "PREFIX NAME", or "PREFIX N" for a class without a name ("" when y < 0
 * and there is no name). */
static void class_text(char *buf, size_t n, const char *prefix, const char *name, int64_t y) {
  if (name) snprintf(buf, n, "%s%s", prefix, name);
  else if (y >= 0) snprintf(buf, n, "%s%lld", prefix, (long long)y);
  else buf[0] = 0;
}

static void draw_row(const fi_picture *p, const layout *L, const fi_classes *cl, const row *r,
                     uint8_t *strip) {
  char buf[512];
  const char *tid = fi_strset_at(p->test.ids, r->t);
  /* the query files' fields, else the ranked record's (rank --query) */
  const fi_join_fields *f = fi_join_find(p->test.fields, tid);
  int64_t gold = f && f->label >= 0 ? f->label : r->label;
  int64_t pred = f && f->pred >= 0 ? f->pred : r->pred;
  const char *gname = fi_classes_name(cl, f && f->label_name ? f->label_name : r->label_name, gold, tid);
  const char *pname = fi_classes_name(cl, f && f->pred_name ? f->pred_name : r->pred_name, pred, tid);
  draw_image(p, L, strip, col_x(p, L, 0), 0, p->test.pix[r->t]);
  draw_line(L, strip, col_x(p, L, 0), 0, 0, tid, BLACK);
  class_text(buf, sizeof buf, "gold ", gname, gold);
  draw_line(L, strip, col_x(p, L, 0), 0, 1, buf, BLACK);
  class_text(buf, sizeof buf, "pred ", pname, pred);
  int right = gold >= 0 && pred >= 0 ? gold == pred : -1;
  draw_line(L, strip, col_x(p, L, 0), 0, 2, buf, right < 0 ? BLACK : right ? GREEN : RED);
  for (int k = 0; k < 2; k++)
    for (int64_t i = 0; i < r->nlist[k]; i++) {
      int64_t e = r->train[k][i];
      const char *eid = fi_strset_at(p->train.ids, e);
      const fi_join_fields *ef = fi_join_find(p->train.fields, eid);
      int64_t y = ef ? ef->label : -1;
      int x = col_x(p, L, 1 + k * p->sp.m + i);
      draw_image(p, L, strip, x, 0, p->train.pix[e]);
      const char *cname = fi_classes_name(cl, ef ? ef->label_name : NULL, y, eid);
      class_text(buf, sizeof buf, cname ? "" : "class ", cname, y);
      draw_line(L, strip, x, 0, 0, buf, k == 0 ? GREEN : DARKRED);
      draw_line(L, strip, x, 0, 1, eid, BLACK);
      snprintf(buf, sizeof buf, "%+.3g", (double)r->score[k][i]);
      draw_line(L, strip, x, 0, 2, buf, BLACK);
    }
}

void fi_picture_write(const fi_picture *p, const fi_classes *cl, int fd, const char *name,
                      uint32_t *width, uint32_t *height) {
  layout L = plan(p);
  size_t strip_bytes = (size_t)L.width * (size_t)(L.ch > L.top ? L.ch : L.top) * 3;
  uint8_t *strip = fi_malloc(strip_bytes);
  fi_png *png = fi_png_begin(fd, name, L.width, L.height, 3);
  /* the title and the column headings */
  memset(strip, 255, strip_bytes);
  int y = PAD;
  if (p->title) {
    fi_font_draw(strip, (int)L.width, L.top, PAD, y, p->title, ((int)L.width - 2 * PAD) / FI_FONT_ADVANCE, BLACK);
    y += LH + PAD;
  }
  char buf[64];
  for (int64_t k = 0; k < L.cols; k++) {
    if (k == 0) snprintf(buf, sizeof buf, "test");
    else snprintf(buf, sizeof buf, "%s %lld", k <= p->sp.m ? "helpful" : "harmful",
                  (long long)(k <= p->sp.m ? k : k - p->sp.m));
    fi_font_draw(strip, (int)L.width, L.top, col_x(p, &L, k) + PAD, y, buf, L.chars, GREY);
  }
  fi_png_rows(png, strip, (uint32_t)L.top);
  for (int64_t q = 0; q < p->nrows; q++) {
    memset(strip, 255, strip_bytes);
    draw_row(p, &L, cl, &p->rows[q], strip);
    fi_png_rows(png, strip, (uint32_t)L.ch);
    fi_progress("%lld of %lld rows drawn", (long long)q + 1, (long long)p->nrows);
  }
  fi_png_end(png);
  free(strip);
  *width = L.width, *height = L.height;
}
