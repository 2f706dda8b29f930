/* strset.h - a set of strings (ids), open addressing, for joins and filters. */
#ifndef FI_STRSET_H
#define FI_STRSET_H
#include <stdint.h>

typedef struct fi_strset fi_strset;
fi_strset *fi_strset_new(void);
void fi_strset_free(fi_strset *s);
/* Adds a copy of key; returns its index (insertion order), or -1-index of
 * the existing entry when already present. */
int64_t fi_strset_add(fi_strset *s, const char *key);
int64_t fi_strset_find(const fi_strset *s, const char *key); /* index or -1 */
int64_t fi_strset_count(const fi_strset *s);
const char *fi_strset_at(const fi_strset *s, int64_t i);
/* Read ids: a text file with one id per line, or (when it starts like a
 * msgpack map) a stream whose records' "ids" arrays, or else "id"s, are
 * taken. */
void fi_strset_load(fi_strset *s, const char *path);
/* Add every string of the array field `key` (e.g. "ids" of candidates) of
 * every record of a stream; a record without it is an error. Returns the
 * number of records read. */
int64_t fi_strset_add_arrays(fi_strset *s, const char *path, const char *key);

#endif
