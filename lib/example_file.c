/* example_file.c - dense example rows kept in an unlinked temp file
 * instead of memory (fi_examples_to_file), so a training set of any N
 * costs the tools a bounded write buffer and the rows of the current
 * batch: the kernel's page cache, not the process, holds the rows, and
 * drops them under memory pressure. Rows are appended through a buffer
 * and read back with pread (thread-safe, no shared file offset), runs of
 * consecutive rows in one call. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model_internal.h"
#include "util.h"

const char *const fi_rows_choices[] = {"file", "memory", NULL};

#define ROWBUF_BYTES ((size_t)4 << 20) /* the append buffer */

/* An unlinked file under $TMPDIR (else /tmp): gone when the process ends,
 * however it ends. */
static int open_unlinked(void) {
  const char *dir = getenv("TMPDIR");
  if (!dir || !*dir) dir = "/tmp";
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  /* file systems without O_TMPFILE: mkstemp, then unlink at once */
  size_t n = strlen(dir) + 32;
  char *path = fi_malloc(n);
  snprintf(path, n, "%s/fastif-rows.XXXXXX", dir);
  fd = mkstemp(path);
  if (fd < 0) fi_die("cannot create a temp file for the training rows in %s: %s", dir, strerror(errno));
  unlink(path);
  free(path);
  return fd;
}

void fi_examples_to_file(fi_examples *ex) {
  if (ex->bow || ex->rowfd >= 0) return; /* bucket lists stay in memory */
  if (ex->n > 0) fi_die("internal: fi_examples_to_file after examples were added");
  ex->rowfd = open_unlinked();
  size_t row = (size_t)ex->d * sizeof(float);
  ex->wcap = row ? (int64_t)(ROWBUF_BYTES / row) : 1;
  if (ex->wcap < 1) ex->wcap = 1;
  ex->wbuf = fi_aligned(fi_mul_size((size_t)ex->wcap, (size_t)(ex->d ? ex->d : 1), "row buffer"),
                        sizeof(float));
  ex->nfile = 0;
}

int fi_examples_in_file(const fi_examples *ex) { return ex->rowfd >= 0; }

static void flush_rows(fi_examples *ex) {
  int64_t k = ex->n - ex->nfile;
  if (k <= 0) return;
  size_t row = (size_t)ex->d * sizeof(float), want = (size_t)k * row;
  off_t off = (off_t)ex->nfile * (off_t)row;
  const char *p = (const char *)ex->wbuf;
  while (want > 0) {
    ssize_t put = pwrite(ex->rowfd, p, want, off);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0)
      fi_die("writing the training rows to a temp file: %s (set TMPDIR to a disk with room)",
             put < 0 ? strerror(errno) : "no progress");
    p += put;
    off += put;
    want -= (size_t)put;
  }
  ex->nfile = ex->n;
}

float *fi_examples_file_slot(fi_examples *ex) {
  if (ex->n - ex->nfile == ex->wcap) flush_rows(ex);
  return ex->wbuf + (ex->n - ex->nfile) * ex->d;
}

static void pread_rows(const fi_examples *ex, int64_t j, int64_t k, float *dst) {
  size_t row = (size_t)ex->d * sizeof(float), want = (size_t)k * row;
  off_t off = (off_t)j * (off_t)row;
  char *p = (char *)dst;
  while (want > 0) {
    ssize_t got = pread(ex->rowfd, p, want, off);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) fi_die("reading the training rows back from their temp file: %s",
                         got < 0 ? strerror(errno) : "unexpected end of file");
    p += got;
    off += got;
    want -= (size_t)got;
  }
}

int fi_examples_rows_elsewhere(const fi_examples *ex) { return ex->rowfd >= 0 || ex->six; }

void fi_examples_rows(const fi_examples *ex, const int64_t *rows, int64_t nb, float *dst) {
  if (ex->six) {
    fi_examples_index_rows(ex, rows, nb, dst);
    return;
  }
  const int64_t d = ex->d;
  for (int64_t i = 0; i < nb;) {
    int64_t j = rows[i];
    if (j >= ex->nfile) { /* still in the append buffer */
      memcpy(dst + i * d, ex->wbuf + (j - ex->nfile) * d, (size_t)d * sizeof(float));
      i++;
      continue;
    }
    int64_t k = 1; /* a run of consecutive rows in the file: one read */
    while (i + k < nb && rows[i + k] == j + k && j + k < ex->nfile) k++;
    pread_rows(ex, j, k, dst + i * d);
    i += k;
  }
}

void fi_examples_file_clear(fi_examples *ex) {
  if (ex->rowfd < 0) return;
  if (ftruncate(ex->rowfd, 0)) fi_die("emptying the training rows' temp file: %s", strerror(errno));
  ex->nfile = 0;
}

void fi_examples_file_close(fi_examples *ex) {
  if (ex->rowfd >= 0) close(ex->rowfd);
  ex->rowfd = -1;
  free(ex->wbuf);
  ex->wbuf = NULL;
}
