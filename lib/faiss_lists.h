/* faiss_lists.h - FAISS index files whose IVF inverted lists are located
 * and checked list by list (formats/index.md, "Inverted lists"); the C side
 * of lib/faiss_lists.cpp, which uses FAISS's C++ internals (its IO hooks)
 * the way lib/faiss_c_api.cpp uses its classes. Errors as in the C API: a
 * nonzero return, the message in faiss_get_last_error(). Only lib/knn.c
 * includes this. */
#ifndef FI_FAISS_LISTS_H
#define FI_FAISS_LISTS_H
#include <faiss/c_api/Index_c.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where the inverted lists of an IVF index lie in its file. FAISS stores
 * them contiguously, list 0 first: list i is sizes[i] codes of code_size
 * bytes, then sizes[i] 64-bit ids. */
typedef struct {
  int64_t nlist, code_size;
  int64_t begin, end;  /* the lists' byte range [begin, end) in the file */
  int64_t *sizes;      /* [nlist] entries per list */
  uint32_t *crc;       /* [nlist] CRC-32 (zlib's) of each list's bytes */
  uint32_t rest_crc;   /* CRC-32 of the bytes [0, begin) followed by [end, EOF) */
} fi_faiss_lists;

void fi_faiss_lists_free(fi_faiss_lists *l); /* the arrays; NULL-safe */

/* faiss::write_index(idx) through write(ctx, buf, n) (0 = written, else
 * failed with errno set), one CRC pass over the bytes: *bytes and *crc (of
 * the whole file) and, when idx is an IVF index (inside a PreTransform or
 * IDMap too) with in-memory (Array) inverted lists, *lists (with malloc'd
 * arrays); lists->nlist = 0 for any other index. */
int fi_faiss_write_index(const FaissIndex *idx, int (*write)(void *ctx, const void *buf, size_t n), void *ctx,
                         uint64_t *bytes, uint32_t *crc, fi_faiss_lists *lists);

/* An index from the whole file mapped read-only at map[0, bytes), whose
 * inverted lists are `want`'s (nlist > 0); the caller has checked the bytes
 * outside them (rest_crc) before FAISS parses them. The lists are not
 * copied: each stays in the mapping and its CRC-32 is checked the first
 * time a search (or any access) touches it; a mismatch fails that search
 * with a message naming `name`. Other inverted-list tables in the file (not
 * `want`'s) are read into memory as FAISS would. On success the index owns
 * the mapping (munmap when it is freed); on failure the caller does. */
int fi_faiss_read_index_mapped(void *map, size_t bytes, const fi_faiss_lists *want, const char *name,
                               FaissIndex **out);

#ifdef __cplusplus
}
#endif
#endif
