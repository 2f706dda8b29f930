/* idset.h - a set of record ids (strings), e.g. the training ids named by a
 * candidates stream (grad --only). Open addressing over an arena of copies. */
#ifndef FI_IDSET_H
#define FI_IDSET_H
#include <stdint.h>

typedef struct fi_idset fi_idset;
fi_idset *fi_idset_new(void);
void fi_idset_free(fi_idset *s);
/* Returns 1 if id was added, 0 if it was already present. */
int fi_idset_add(fi_idset *s, const char *id);
int fi_idset_has(const fi_idset *s, const char *id);
int64_t fi_idset_count(const fi_idset *s);
/* Adds every string of the "ids" array of every record of a candidates
 * stream (path; "-" = stdin); returns the number of records read. */
int64_t fi_idset_add_candidates(fi_idset *s, const char *path);

#endif
