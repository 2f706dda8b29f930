/* model_internal.h - the layout of fi_model / fi_examples shared by the
 * lib/model*.c, lib/layer_*.c and lib/examples.c files. Tools use model.h
 * only. */
#ifndef FI_MODEL_INTERNAL_H
#define FI_MODEL_INTERNAL_H
#include <stdint.h>
#include "layer.h"
#include "model.h"

typedef enum { FI_ARCH_LINEAR = 0, FI_ARCH_MLP, FI_ARCH_BOW } fi_arch;
typedef enum { FI_ACT_NONE = 0, FI_ACT_TANH, FI_ACT_RELU } fi_act;

/* 2 tensors per dense layer + the embedding must fit FI_MAX_PARAMS. */
#define FI_MAX_LAYERS ((FI_MAX_PARAMS - 1) / 2)
#define FI_MAX_LIST (FI_MAX_LAYERS + 1)       /* layers computed: the bag + dense */
#define FI_MAX_SIZE ((int64_t)1 << 26)        /* any layer width */
#define FI_MAX_NUMEL ((int64_t)1 << 31)       /* any parameter tensor */
#define FI_MAX_BUCKETS ((int64_t)1 << 30)

struct fi_model {
  /* the architecture as the model file states it (formats/model.md) */
  fi_arch arch;
  fi_act act;                       /* between dense layers (none for linear) */
  int nl;                           /* dense layers */
  int64_t sizes[FI_MAX_LAYERS + 1]; /* sizes[0] = input (dim for bow), sizes[nl] = C */
  int64_t buckets, dim;             /* bow only */
  double l2;
  /* the parameter tensors, in model order */
  int np;
  char pname[FI_MAX_PARAMS][32];
  int pndim[FI_MAX_PARAMS];
  int64_t pshape[FI_MAX_PARAMS][FI_PARAM_DIMS];
  int64_t pnumel[FI_MAX_PARAMS];
  float *pdata[FI_MAX_PARAMS];      /* 64-byte aligned */
  int powner[FI_MAX_PARAMS];        /* the layer that holds each */
  int pslot[FI_MAX_PARAMS];         /* and its index there */
  int pe;                           /* embedding.weight index or -1 (bag featuriser) */
  /* what is computed: the layers, input first (layer.h) */
  int nlayers;
  fi_layer layers[FI_MAX_LIST];
  char **classes;                   /* NULL or nclasses names */
};

struct fi_examples {
  int bow;                  /* bucket lists instead of dense x */
  int64_t d;                /* dense input size */
  int64_t buckets;          /* bow bucket count */
  int nclasses;
  char **classes;           /* the model's class names (a copy), or NULL */
  int64_t n, cap;
  char **ids;               /* point into the arena blocks (stable) */
  int32_t *labels;          /* -1 = no label */
  float *x;                 /* dense: [cap, d] */
  int64_t *rowptr;          /* bow: [cap + 1] offsets into tok */
  int32_t *tok;             /* bow: bucket ids */
  int64_t ntok, tokcap;
  int64_t *ht;              /* open addressing: example index or -1 */
  uint64_t htcap;           /* power of two */
  char **blocks;            /* id arena */
  int nblocks, blockcap;
  size_t blockused, blocksize;
  int32_t *scratch;         /* text -> buckets */
  int64_t scratchcap;
  /* fi_examples_cache_bags: mean embedding bags of rows [0, bag_n) under
   * bag_m's table, so repeated passes (LiSSA, CG) skip the bag sums. */
  const fi_model *bag_m;
  float *bag, *bag_invn;
  int64_t bag_n;
  /* fi_examples_to_file (example_file.c): dense rows [0, nfile) in the
   * unlinked file rowfd, rows [nfile, n) in wbuf [wcap, d]; x unused. */
  int rowfd;                /* -1: rows in x */
  float *wbuf;
  int64_t wcap, nfile;
  /* fi_examples_open_indexed (example_index.c): every row of the stream
   * six indexes, ids and labels from the index, rows decoded from the
   * stream when used; x, ht and the id arena unused. */
  struct fi_sidx *six;
};

/* bow: example j's mean embedding bag into row [dim]; returns 1/ntokens
 * (0 for an empty text, whose bag is the zero vector). */
float fi_bow_bag(const fi_model *m, const fi_examples *ex, int64_t j, float *row);

/* Rows in a file (example_file.c): where the next added row goes (flushing
 * the buffer when full); rows[0..nb) gathered into dst [nb, d]; emptying
 * the file (fi_examples_clear); closing it (fi_examples_free). */
float *fi_examples_file_slot(fi_examples *ex);
void fi_examples_rows(const fi_examples *ex, const int64_t *rows, int64_t nb, float *dst);
void fi_examples_file_clear(fi_examples *ex);
void fi_examples_file_close(fi_examples *ex);
/* Rows through a stream index (example_index.c): rows[0..nb) into dst. */
void fi_examples_index_rows(const fi_examples *ex, const int64_t *rows, int64_t nb, float *dst);
/* A dense record's "x" into row [d], checked as fi_examples_add checks
 * it, with its label_name against label y (-1: none). */
void fi_examples_decode_dense(const fi_examples *ex, const fi_record *rec, int64_t y, float *row);
/* 1 when the dense rows are not in x (a temp file, or the stream itself). */
int fi_examples_rows_elsewhere(const fi_examples *ex);

/* Validate a batch against the model before computing on it. */
void fi_model_check_examples(const fi_model *m, const fi_examples *ex);

/* The bow text featuriser (formats/model.md): appends the bucket ids of
 * text[0..len) to *out (grown with *cap); returns the count appended. */
int64_t fi_bow_buckets(const char *text, size_t len, int64_t buckets,
                       int32_t **out, int64_t *cap, int64_t at);
uint64_t fi_fnv1a64(const void *p, size_t n, uint64_t h);
#define FI_FNV_OFFSET 0xcbf29ce484222325ULL

#endif
