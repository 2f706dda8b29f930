/* strset.c - string set with FNV-1a hashing and linear probing. */
#include "strset.h"

#include <stdlib.h>
#include <string.h>

#include "stream.h"
#include "util.h"

struct fi_strset {
  char **keys;      /* insertion order */
  int64_t n, cap;
  int64_t *slots;   /* index+1, 0 = empty */
  int64_t nslots;
};

static uint64_t hash(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

fi_strset *fi_strset_new(void) {
  fi_strset *s = fi_calloc(1, sizeof *s);
  s->nslots = 64;
  s->slots = fi_calloc(s->nslots, sizeof *s->slots);
  return s;
}

void fi_strset_free(fi_strset *s) {
  if (!s) return;
  for (int64_t i = 0; i < s->n; i++) free(s->keys[i]);
  free(s->keys);
  free(s->slots);
  free(s);
}

static int64_t probe(const fi_strset *s, const char *key, uint64_t h) {
  uint64_t m = (uint64_t)s->nslots - 1;
  for (uint64_t i = h & m;; i = (i + 1) & m) {
    int64_t v = s->slots[i];
    if (!v || !strcmp(s->keys[v - 1], key)) return (int64_t)i;
  }
}

int64_t fi_strset_find(const fi_strset *s, const char *key) {
  int64_t v = s->slots[probe(s, key, hash(key))];
  return v ? v - 1 : -1;
}

int64_t fi_strset_add(fi_strset *s, const char *key) {
  int64_t slot = probe(s, key, hash(key));
  if (s->slots[slot]) return -1 - (s->slots[slot] - 1);
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 64;
    s->keys = fi_realloc(s->keys, fi_mul_size((size_t)s->cap, sizeof *s->keys, "id set"));
  }
  s->keys[s->n] = fi_strdup(key);
  s->slots[slot] = ++s->n;
  if (2 * s->n > s->nslots) { /* keep load under 1/2 */
    free(s->slots);
    s->nslots *= 2;
    s->slots = fi_calloc((size_t)s->nslots, sizeof *s->slots);
    for (int64_t i = 0; i < s->n; i++) s->slots[probe(s, s->keys[i], hash(s->keys[i]))] = i + 1;
  }
  return s->n - 1;
}

int64_t fi_strset_count(const fi_strset *s) { return s->n; }
const char *fi_strset_at(const fi_strset *s, int64_t i) { return s->keys[i]; }

/* One id per line; trailing CR and spaces dropped, empty lines skipped. */
static void add_line(fi_strset *s, char *line, size_t len) {
  while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ')) len--;
  line[len] = 0;
  if (len > 0) fi_strset_add(s, line);
}

void fi_strset_load(fi_strset *s, const char *path) {
  /* Through the stream reader even for text: "-" means standard input, and a
   * directory or a closed standard input is an error, as for any input. */
  fi_reader *r = fi_reader_open(path);
  int c = fi_reader_peek(r);
  if ((c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf) {
    const fi_record *rec;
    while ((rec = fi_read(r))) {
      const char **ids;
      int64_t n = fi_rec_strs(rec, "ids", &ids, 0);
      if (ids)
        for (int64_t i = 0; i < n; i++) fi_strset_add(s, ids[i]);
      else
        fi_strset_add(s, fi_rec_id(rec));
    }
    fi_reader_close(r);
    return;
  }
  char *line = NULL;
  size_t len = 0, cap = 0, n;
  const unsigned char *p;
  while ((n = fi_reader_chunk(r, &p)) > 0) {
    for (size_t i = 0; i < n; i++) {
      if (p[i] == '\n') {
        if (len == cap) line = fi_realloc(line, cap = 2 * cap + 64);
        add_line(s, line, len);
        len = 0;
        continue;
      }
      if (len + 1 >= cap) line = fi_realloc(line, cap = 2 * cap + 64);
      line[len++] = (char)p[i];
    }
  }
  if (len > 0) {
    if (len == cap) line = fi_realloc(line, cap + 1);
    add_line(s, line, len);
  }
  free(line);
  fi_reader_close(r);
}

int64_t fi_strset_add_arrays(fi_strset *s, const char *path, const char *key) {
  fi_reader *r = fi_reader_open(path);
  const fi_record *rec;
  int64_t n = 0;
  while ((rec = fi_read(r))) {
    const char **ids;
    int64_t k = fi_rec_strs(rec, key, &ids, 1);
    for (int64_t i = 0; i < k; i++) fi_strset_add(s, ids[i]);
    n++;
  }
  fi_reader_close(r);
  return n;
}
