/* join.c - example fields by id, loaded from streams (join.h). */
#include "join.h"

#include <stdlib.h>
#include <string.h>

#include "stream.h"
#include "strset.h"
#include "util.h"

struct fi_join {
  fi_strset *ids;
  fi_join_fields *f;   /* [count of ids], indexed like ids */
  int64_t cap;
  char *unmatched;     /* fi_join_load_list's answer */
};

fi_join *fi_join_new(void) {
  fi_join *j = fi_calloc(1, sizeof *j);
  j->ids = fi_strset_new();
  return j;
}

void fi_join_free(fi_join *j) {
  if (!j) return;
  for (int64_t i = 0; i < fi_strset_count(j->ids); i++) {
    free(j->f[i].label_name);
    free(j->f[i].pred_name);
    free(j->f[i].text);
  }
  free(j->f);
  fi_strset_free(j->ids);
  free(j->unmatched);
  free(j);
}

static char *opt_str(const fi_record *rec, const char *key) {
  const char *s = fi_rec_str(rec, key, NULL, 0);
  return s ? fi_strdup(s) : NULL;
}

int64_t fi_join_load(fi_join *j, const char *path, const fi_strset *want) {
  return fi_join_load_each(j, path, want, NULL, NULL);
}

int64_t fi_join_load_each(fi_join *j, const char *path, const fi_strset *want,
                          fi_join_each *each, void *ctx) {
  fi_strset *seen = fi_strset_new();
  fi_reader *r = fi_reader_open(path);
  const fi_record *rec;
  int64_t matched = 0;
  while ((rec = fi_read(r))) {
    if (fi_strset_add(seen, fi_rec_id(rec)) < 0) fi_rec_die(rec, "duplicate id in %s", path);
    if (want && fi_strset_find(want, fi_rec_id(rec)) < 0) continue;
    matched++;
    int64_t i = fi_strset_add(j->ids, fi_rec_id(rec));
    if (i < 0) {
      i = -1 - i;
    } else {
      if (i >= j->cap) {
        j->cap = j->cap ? 2 * j->cap : 1024;
        j->f = fi_realloc(j->f, fi_mul_size(j->cap, sizeof *j->f, "joined ids"));
      }
      j->f[i] = (fi_join_fields){.label = -1, .pred = -1};
    }
    fi_join_fields *f = &j->f[i];
    int64_t y;
    if (f->label < 0 && fi_rec_int(rec, "label", &y, 0)) f->label = y;
    if (f->pred < 0 && fi_rec_int(rec, "pred", &y, 0)) f->pred = y;
    if (!f->label_name) f->label_name = opt_str(rec, "label_name");
    if (!f->pred_name) f->pred_name = opt_str(rec, "pred_name");
    if (!f->text) f->text = opt_str(rec, "text");
    if (each) each(rec, ctx);
  }
  fi_reader_close(r);
  fi_strset_free(seen);
  return matched;
}

const char *fi_join_load_list(fi_join *j, const char *paths, const fi_strset *want) {
  return fi_join_load_list_each(j, paths, want, NULL, NULL);
}

const char *fi_join_load_list_each(fi_join *j, const char *paths, const fi_strset *want,
                                   fi_join_each *each, void *ctx) {
  char *list = fi_strdup(paths);
  for (char *f = strtok(list, ","); f; f = strtok(NULL, ","))
    if (fi_join_load_each(j, f, want, each, ctx) == 0 && !j->unmatched) j->unmatched = fi_strdup(f);
  free(list);
  return j->unmatched;
}

const fi_join_fields *fi_join_find(const fi_join *j, const char *id) {
  int64_t i = j ? fi_strset_find(j->ids, id) : -1;
  return i < 0 ? NULL : &j->f[i];
}
