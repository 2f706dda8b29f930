/* harness.h - shared plumbing for the libFuzzer harnesses (fuzz/README.md).
 *
 * The library reports bad input with fi_die(), which calls exit(1). Inside
 * libFuzzer an exit ends the whole fuzzing run, so fuzz/fuzz.mk compiles
 * lib/ with -Dexit=fuzz_exit: a call to exit() becomes a longjmp back into
 * the harness, which counts the input as "rejected" and goes on. After a
 * longjmp the library may hold memory and file descriptors it never freed:
 * runs use -detect_leaks=0, and FUZZ_RUN closes every descriptor the input
 * opened (found by comparing against the descriptors open before it).
 * fi_die also takes a mutex it never releases (the first error of many
 * threads wins); the harnesses are single-threaded, so the fuzz build maps
 * pthread_mutex_lock/unlock in lib/ to no-ops (fuzz_mutex_lock below).
 * Everything else a sanitizer notices (overflow, use after free, UB, a
 * crash, an abort, a hang via -timeout) is still a finding.
 *
 * Multi-MiB inputs: fuzz.mk lets raw inputs reach 4 MiB, and an input that
 * starts with "FZRP" stands for a bigger one (fuzz_expand below), so a few
 * bytes can be a record of several MiB (a map declaring ten million
 * elements, then one element repeated) that byte mutation alone would take
 * long to grow into. */
#ifndef FUZZ_HARNESS_H
#define FUZZ_HARNESS_H
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <fcntl.h>

#include "util.h"

static jmp_buf fuzz_jmp;
static int fuzz_armed;

_Noreturn void fuzz_exit(int code);
_Noreturn void fuzz_exit(int code) {
  if (fuzz_armed) {
    fuzz_armed = 0;
    longjmp(fuzz_jmp, code ? code : 256);
  }
  _exit(code);
}

#include <pthread.h>
int fuzz_mutex_lock(pthread_mutex_t *m);
int fuzz_mutex_unlock(pthread_mutex_t *m);
int fuzz_mutex_lock(pthread_mutex_t *m) { (void)m; return 0; }
int fuzz_mutex_unlock(pthread_mutex_t *m) { (void)m; return 0; }

#define FUZZ_MAXFD 256
static unsigned char fuzz_open_before[FUZZ_MAXFD];

static void fuzz_snapshot_fds(void) {
  for (int fd = 0; fd < FUZZ_MAXFD; fd++) fuzz_open_before[fd] = fcntl(fd, F_GETFD) != -1;
}
static void fuzz_close_new_fds(void) {
  for (int fd = 3; fd < FUZZ_MAXFD; fd++)
    if (!fuzz_open_before[fd] && fcntl(fd, F_GETFD) != -1) close(fd);
}

/* A path naming an in-memory file holding data (a memfd): for the readers
 * that take a path. The caller closes *fd. */
__attribute__((unused)) static const char *fuzz_memfile(const uint8_t *data, size_t size, int *fd, char *path, size_t plen) {
  *fd = memfd_create("fuzz", MFD_CLOEXEC);
  if (*fd < 0) abort();
  size_t off = 0;
  while (off < size) {
    ssize_t w = write(*fd, data + off, size - off);
    if (w <= 0) abort();
    off += (size_t)w;
  }
  lseek(*fd, 0, SEEK_SET);
  snprintf(path, plen, "/proc/self/fd/%d", *fd);
  return path;
}

/* "FZRP" then segments, each count:u32le len:u16le bytes[len], stand for
 * each segment's bytes repeated count times, up to 16 MiB in all; any other
 * input stands for itself. Returns the bytes to use (*size updated); a
 * buffer it allocates is kept for the next call. */
#define FUZZ_EXPAND_MAX ((size_t)16 << 20)
__attribute__((unused)) static const uint8_t *fuzz_expand(const uint8_t *data, size_t *size) {
  static uint8_t *buf;
  if (*size < 4 || memcmp(data, "FZRP", 4)) return data;
  size_t n = 0, at = 4, total = 0;
  for (size_t a = 4; a + 6 <= *size;) { /* the expanded size first: allocate only that */
    size_t len = data[a + 4] | data[a + 5] << 8;
    if (len > *size - a - 6) len = *size - a - 6;
    uint64_t count = data[a] | data[a + 1] << 8 | data[a + 2] << 16 | (uint64_t)data[a + 3] << 24;
    total += count * len < FUZZ_EXPAND_MAX ? count * len : FUZZ_EXPAND_MAX;
    if (total > FUZZ_EXPAND_MAX) total = FUZZ_EXPAND_MAX;
    a += 6 + len;
  }
  free(buf);
  buf = malloc(total + 1);
  if (!buf) abort();
  while (at + 6 <= *size) {
    uint32_t count = data[at] | data[at + 1] << 8 | data[at + 2] << 16 | (uint32_t)data[at + 3] << 24;
    size_t len = data[at + 4] | data[at + 5] << 8;
    at += 6;
    if (len > *size - at) len = *size - at;
    if (len > 0 && count > (total - n) / len) count = (uint32_t)((total - n) / len);
    if (len == 1) memset(buf + n, data[at], count), n += count;
    else
      for (uint32_t i = 0; i < count && len > 0; i++, n += len) memcpy(buf + n, data + at, len);
    at += len;
  }
  *size = n;
  return buf;
}

/* Run BODY (a statement using data/size); a fi_die inside it returns here. */
#define FUZZ_RUN(BODY)                          \
  do {                                          \
    fuzz_snapshot_fds();                        \
    fi_progname = "fuzz";                       \
    if (setjmp(fuzz_jmp) == 0) {                \
      fuzz_armed = 1;                           \
      BODY;                                     \
    }                                           \
    fuzz_armed = 0;                             \
    fuzz_close_new_fds();                       \
  } while (0)

#endif
