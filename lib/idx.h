/* idx.h - reader for IDX files (the MNIST / Fashion-MNIST format), plain or
 * gzipped (read through zlib). The header is validated before anything is
 * allocated from it: magic (00 00 TYPE NDIM), element type (only unsigned
 * byte, 0x08, is supported), dimensions within limits and overflow-free.
 * Items (one image, one label) are streamed one at a time, so memory is one
 * item whatever the count; a file that ends before its declared item count,
 * or carries data after it, is an error, never a short data set. */
#ifndef FI_IDX_H
#define FI_IDX_H
#include <stddef.h>
#include <stdint.h>

#define FI_IDX_MAX_NDIM 4
#define FI_IDX_MAX_ITEM_BYTES ((int64_t)64 << 20)
#define FI_IDX_MAX_ITEMS ((int64_t)INT32_MAX)

typedef struct fi_idx fi_idx;

/* want_ndim: required number of dimensions (e.g. 3 for images, 1 for
 * labels), 0 for any. Returns NULL and fills err (naming the file) on an
 * open error or a bad header. */
fi_idx *fi_idx_open(const char *path, int want_ndim, char *err, size_t errlen);
void fi_idx_close(fi_idx *x);

int fi_idx_ndim(const fi_idx *x);
int64_t fi_idx_count(const fi_idx *x);      /* dimension 0: number of items */
int64_t fi_idx_item_size(const fi_idx *x);  /* bytes (= elements) per item */

/* Reads the next item into out[item_size]. Returns 1, or 0 after the last
 * declared item (having checked that nothing follows it and, for gzip, the
 * checksum), or -1 on error (see fi_idx_error: "FILE: item N of M: ..."). */
int fi_idx_next(fi_idx *x, uint8_t *out);
/* Same, scaled to [0, 1] floats (byte / 255). */
int fi_idx_next_f32(fi_idx *x, float *out);
const char *fi_idx_error(const fi_idx *x);

#endif
