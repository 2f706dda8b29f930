/* idset.c - string set (see idset.h). */
#include "idset.h"
#include <stdlib.h>
#include <string.h>
#include "stream.h"
#include "util.h"

struct fi_idset {
  char **slot;       /* NULL = empty; points at an owned copy */
  uint64_t cap;      /* power of two */
  int64_t n;
};

static uint64_t hash(const char *s) {
  uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
  return h;
}

fi_idset *fi_idset_new(void) {
  fi_idset *s = fi_calloc(1, sizeof *s);
  s->cap = 64;
  s->slot = fi_calloc(s->cap, sizeof(char *));
  return s;
}

void fi_idset_free(fi_idset *s) {
  if (!s) return;
  for (uint64_t i = 0; i < s->cap; i++) free(s->slot[i]);
  free(s->slot);
  free(s);
}

static uint64_t find(const fi_idset *s, const char *id) {
  uint64_t i = hash(id) & (s->cap - 1);
  while (s->slot[i] && strcmp(s->slot[i], id) != 0) i = (i + 1) & (s->cap - 1);
  return i;
}

int fi_idset_add(fi_idset *s, const char *id) {
  if ((uint64_t)(s->n + 1) * 2 > s->cap) { /* keep the load factor <= 1/2 */
    fi_idset old = *s;
    s->cap *= 2;
    s->slot = fi_calloc(s->cap, sizeof(char *));
    for (uint64_t i = 0; i < old.cap; i++)
      if (old.slot[i]) s->slot[find(s, old.slot[i])] = old.slot[i];
    free(old.slot);
  }
  uint64_t i = find(s, id);
  if (s->slot[i]) return 0;
  s->slot[i] = fi_strdup(id);
  s->n++;
  return 1;
}

int fi_idset_has(const fi_idset *s, const char *id) { return s->slot[find(s, id)] != NULL; }
int64_t fi_idset_count(const fi_idset *s) { return s->n; }

int64_t fi_idset_add_candidates(fi_idset *s, const char *path) {
  fi_reader *r = fi_reader_open(path);
  const fi_record *rec;
  int64_t n = 0;
  while ((rec = fi_read(r))) {
    const char **ids;
    int64_t k = fi_rec_strs(rec, "ids", &ids, 1);
    for (int64_t i = 0; i < k; i++) fi_idset_add(s, ids[i]);
    n++;
  }
  fi_reader_close(r);
  return n;
}
