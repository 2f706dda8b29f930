/* sniff.h - name the kind of a file given where a tensor stream or a model
 * file was expected (a PyTorch .pt, gzip, CSV, JSON lines, a model given as
 * a stream...), with the command that makes the right kind. Only error
 * paths call it: it turns "first byte 0x50" into something a user can act on. */
#ifndef FI_SNIFF_H
#define FI_SNIFF_H
#include <stddef.h>

#include "stream.h"

typedef enum { FI_WANT_STREAM, FI_WANT_MODEL } fi_want;

/* From the first bytes of a file: "the file is X, not Y: make one with Z",
 * or NULL when the bytes are no kind it knows. */
const char *fi_sniff(const unsigned char *head, size_t n, fi_want want);
/* For a msgpack map that is the wrong kind of msgpack: a model file read as a
 * record, or a record read as a model. NULL when it is neither. */
const char *fi_sniff_record(const fi_record *rec, fi_want want);
/* "; " + fi_sniff_record(), or "" (to append to an error message). */
const char *fi_sniff_hint(const fi_record *rec, fi_want want);

#endif
