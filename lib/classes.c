/* classes.c - class name tables (classes.h). */
#include "classes.h"

#include <stdlib.h>

#include "import.h"
#include "model.h"
#include "util.h"

struct fi_classes {
  int n;
  char **names;   /* one allocation (fi_split_list), or n strdup'd strings */
  int owned;      /* names[i] allocated one by one */
};

fi_classes *fi_classes_from_model(const char *path) {
  fi_model *m = fi_model_load(path);
  int n = fi_model_nclasses(m);
  if (!fi_model_class_name(m, 0)) {
    fi_model_free(m);
    return NULL;
  }
  fi_classes *c = fi_calloc(1, sizeof *c);
  c->n = n;
  c->names = fi_calloc((size_t)n, sizeof *c->names);
  for (int i = 0; i < n; i++) c->names[i] = fi_strdup(fi_model_class_name(m, i));
  c->owned = 1;
  fi_model_free(m);
  return c;
}

fi_classes *fi_classes_from_list(const char *list, char *err, size_t errlen) {
  char **names;
  int n = fi_split_list(list, &names, err, errlen);
  if (n < 0) return NULL;
  fi_classes *c = fi_calloc(1, sizeof *c);
  c->n = n;
  c->names = names;
  return c;
}

void fi_classes_free(fi_classes *c) {
  if (!c) return;
  if (c->owned)
    for (int i = 0; i < c->n; i++) free(c->names[i]);
  free(c->names);
  free(c);
}

int fi_classes_count(const fi_classes *c) { return c ? c->n : 0; }

const char *fi_classes_name(const fi_classes *c, const char *own, int64_t y, const char *id) {
  if (own) return own;
  if (!c || y < 0) return NULL;
  if (y >= c->n)
    fi_die("record '%s': class %lld, but the class names given name only %d classes (0..%d)", id,
           (long long)y, c->n, c->n - 1);
  return c->names[y];
}
