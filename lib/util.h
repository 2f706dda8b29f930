/* util.h - errors, allocation, logging, progress, atomic output files.
 * Every tool reports problems the same way: "TOOL: error: ..." on stderr,
 * exit 1 for data/runtime errors, exit 2 for usage errors. */
#ifndef FI_UTIL_H
#define FI_UTIL_H
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

extern const char *fi_progname;   /* set by fi_parse_options() */
extern int fi_progress_on;        /* --progress or stderr is a terminal */

void fi_set_progname(const char *argv0);

_Noreturn void fi_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fi_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fi_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Progress of the current stage on stderr (formats/DESIGN.md, "Progress"):
 * a status text, and optionally a count of units with a total (<= 0:
 * unknown), which adds the rate and, with a total, the time left.
 * Rate-limited and silent unless fi_progress_on; thread-safe. */
void fi_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fi_progress_count(const char *unit, int64_t total); /* starts counting from 0; NULL: stops */
void fi_progress_add(int64_t n);                        /* n more units done */
void fi_progress_end(void);                             /* the stage is over: clear its line */
/* "TOOL: done N records" ("done 1 record") */
void fi_done(long long nrecords);

/* Errors as values: what a library function returns instead of exiting
 * when a caller's setting is at fault, so that the caller can name the flag
 * (fi_opt_fail, opts.h) or handle it. The library names the setting by its
 * own parameter name ("k", "scale"); it knows no flags. */
typedef enum {
  FI_ERR_NONE = 0,
  FI_ERR_USAGE,  /* the setting is outside its domain: a usage error (exit 2) */
  FI_ERR_DATA,   /* the setting does not fit the data (k above the index size): exit 1 */
} fi_err_kind;
typedef struct {
  fi_err_kind kind;
  const char *setting;   /* the library's name of the setting, or NULL */
  char msg[480];         /* what is wrong, without the setting's flag */
} fi_err;
/* Fill e and return -1, for `return fi_err_set(e, ...)`. */
int fi_err_set(fi_err *e, fi_err_kind kind, const char *setting, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int fi_err_vset(fi_err *e, fi_err_kind kind, const char *setting, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* Allocation that never returns NULL; sizes are overflow-checked. */
void *fi_malloc(size_t n);
void *fi_calloc(size_t n, size_t size);
void *fi_realloc(void *p, size_t n);
char *fi_strdup(const char *s);
/* 64-byte aligned, for BLAS operands; free with free(). */
void *fi_aligned(size_t n, size_t size);
/* n*size or die naming what. */
size_t fi_mul_size(size_t n, size_t size, const char *what);

double fi_now(void);   /* monotonic seconds */

/* An input named on the command line, opened for reading: NULL or "-" is
 * standard input, which feeds one input of a run only (a second "-" is a
 * usage error); a closed standard input or a directory is an error naming
 * it. Returns the descriptor (0 for standard input) and sets *name to what
 * messages call it. */
int fi_open_input(const char *path, const char **name);
/* 1 if path names a regular file (which can be read twice), else 0. */
int fi_is_regular_file(const char *path);

/* Output files: a regular file (or a new one) is written to a temp file
 * beside it and renamed over it on commit, so it appears whole or not at all;
 * symlinks are followed (the link stays, its target is replaced); a device or
 * FIFO is written straight through. Uncommitted temp files are removed at
 * exit (also after fi_die) and on SIGHUP, SIGINT, SIGTERM and SIGXFSZ. */
typedef struct fi_atomic fi_atomic;
fi_atomic *fi_atomic_begin(const char *path); /* creates the temp file */
int fi_atomic_fd(const fi_atomic *a);
void fi_atomic_commit(fi_atomic *a);  /* fsync+close+rename, or die; a is spent */

/* Offset of the first byte of s[0..n) that is not valid UTF-8 (no
 * overlongs, no surrogates, at most U+10FFFF), or -1 if all is valid. */
long fi_utf8_invalid_at(const unsigned char *s, size_t n);

/* Write all n bytes (retrying short writes and EINTR): 0, or -1 with errno. */
int fi_write_all(int fd, const void *buf, size_t n);

/* Parse helpers for option values and specs. Return 0 on success. */
int fi_parse_ll(const char *s, long long *out);
int fi_parse_double(const char *s, double *out);

/* Deterministic RNG (splitmix64 seeding xoshiro256**). */
typedef struct { uint64_t s[4]; } fi_rng;
void fi_rng_seed(fi_rng *r, uint64_t seed);
uint64_t fi_rng_next(fi_rng *r);
uint64_t fi_rng_below(fi_rng *r, uint64_t n); /* uniform in [0, n) */
double fi_rng_uniform(fi_rng *r);             /* [0, 1) */
double fi_rng_normal(fi_rng *r);
void fi_rng_shuffle(fi_rng *r, int64_t *a, int64_t n);

#endif
