/* util.c - errors, allocation, logging, progress, atomic files, RNG. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *fi_progname = "fastif";
int fi_progress_on = 0;

void fi_set_progname(const char *argv0) {
  const char *s = strrchr(argv0, '/');
  fi_progname = s ? s + 1 : argv0;
}

/* ---- stderr: log lines and the progress line ----
 * Every write to stderr goes through say() under one lock, so a log line
 * first clears a live progress line (which the next update redraws) and
 * lines from this process never interleave with its own progress. */
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static int live_shown;  /* a live progress line is on the terminal now */

static void say(const char *s, size_t n) {
  ssize_t w = write(2, s, n);
  (void)w;
}

static void vsay(const char *prefix, const char *fmt, va_list ap) {
  /* One write per message so lines from parallel jobs do not interleave. */
  char buf[4096];
  pthread_mutex_lock(&err_lock);
  /* On a terminal a line starts by clearing the line it lands on: the
   * live progress line of this or another stage of the pipeline. */
  static int tty = -1;
  if (tty < 0) tty = isatty(2);
  int n = snprintf(buf, sizeof buf, "%s%s: %s", tty || live_shown ? "\r\033[K" : "", fi_progname, prefix);
  live_shown = 0;
  if (n < 0) n = 0;
  if ((size_t)n < sizeof buf) {
    int m = vsnprintf(buf + n, sizeof buf - n, fmt, ap);
    if (m > 0) n += m;
  }
  if ((size_t)n >= sizeof buf - 1) n = sizeof buf - 2;
  buf[n++] = '\n';
  say(buf, (size_t)n);
  pthread_mutex_unlock(&err_lock);
}

static pthread_mutex_t die_lock = PTHREAD_MUTEX_INITIALIZER;
static void remove_pending(void);

void fi_die(const char *fmt, ...) {
  pthread_mutex_lock(&die_lock); /* first error wins when threads fail */
  va_list ap;
  va_start(ap, fmt);
  vsay("error: ", fmt, ap);
  va_end(ap);
  /* Not exit(): its handlers and the libraries' destructors (OpenBLAS's
   * shutdown) would run while other threads still compute (a bad record
   * read through a stream index in the middle of scoring): a segfault
   * instead of exit 1. Flush what was printed (unless another thread is
   * inside stdout, perhaps blocked on a full pipe: waiting could hang),
   * remove the temp files of outputs not committed, and leave at once. */
  if (ftrylockfile(stdout) == 0) {
    fflush(stdout);
    funlockfile(stdout);
  }
  remove_pending();
  _exit(1);
}

void fi_usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay("", fmt, ap);
  va_end(ap);
  char buf[512];
  int n = snprintf(buf, sizeof buf, "Try '%s --help' for more information.\n", fi_progname);
  ssize_t w = write(2, buf, n);
  (void)w;
  exit(2);
}

void fi_log(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsay("", fmt, ap);
  va_end(ap);
}

/* ---- progress (formats/DESIGN.md, "Progress") ----
 * A stage shows a status text and, when it counts units, done/total, the
 * rate and the time left. Only on a terminal (or with --progress), and
 * only one process per terminal draws a live line, rewritten in place at
 * most 5 times a second: the first stage writing into a file (not a pipe)
 * to take the terminal's lock (flock on the tty itself). Every other stage
 * on that terminal prints a whole line at most every 10 s, so the stages of
 * one pipeline never overwrite each other; a stage whose output goes to the
 * terminal shows none. A clock thread redraws once a second, so a long
 * computation that reports nothing still shows its elapsed time: a tool's
 * stage starts when it has parsed its options. */
static struct {
  int started, live, tty, quiet, lockfd;
  char text[256];
  char unit[32];
  int64_t total;
  _Atomic int64_t done;
  double t0, tcount, last;  /* start, start of the count, last draw */
  int active;               /* a stage is showing (text or count) */
} prog = {.lockfd = -1};

static int stdout_is_pipe(void) {
  struct stat st;
  return fstat(1, &st) == 0 && S_ISFIFO(st.st_mode);
}

/* The live line belongs to whoever holds the terminal's lock. */
static int take_terminal(void) {
  if (!prog.tty || prog.quiet || stdout_is_pipe()) return 0;
  if (prog.lockfd < 0) {
    const char *tty = ttyname(2);
    prog.lockfd = tty ? open(tty, O_RDONLY | O_NOCTTY | O_CLOEXEC) : -1;
    if (prog.lockfd < 0) return 1; /* no lock to take: draw anyway */
  }
  return flock(prog.lockfd, LOCK_EX | LOCK_NB) == 0;
}

static void fmt_secs(char *buf, size_t n, double s) {
  if (s < 90) snprintf(buf, n, "%.0f s", s);
  else if (s < 5400) snprintf(buf, n, "%.0f min", s / 60);
  else snprintf(buf, n, "%.1f h", s / 3600);
}

/* The line, without "TOOL: ", for the state now; err_lock held. */
static void progress_text(char *buf, size_t n, double now) {
  int64_t done = atomic_load(&prog.done);
  size_t len = (size_t)snprintf(buf, n, "%s", prog.text);
  char t[32];
  if (prog.unit[0] && len < n) {
    double dt = now - prog.tcount, rate = dt > 0 ? (double)done / dt : 0;
    len += (size_t)snprintf(buf + len, n - len, "%s%lld", len ? ": " : "", (long long)done);
    if (prog.total > 0 && len < n)
      len += (size_t)snprintf(buf + len, n - len, "/%lld", (long long)prog.total);
    if (len < n) len += (size_t)snprintf(buf + len, n - len, " %s", prog.unit);
    if (prog.total > 0 && len < n)
      len += (size_t)snprintf(buf + len, n - len, " (%.0f%%)", 100.0 * (double)done / (double)prog.total);
    if (rate > 0 && len < n) len += (size_t)snprintf(buf + len, n - len, rate >= 100 ? ", %.0f/s" : ", %.3g/s", rate);
    if (prog.total > 0 && rate > 0 && done < prog.total && len < n) {
      fmt_secs(t, sizeof t, (double)(prog.total - done) / rate);
      len += (size_t)snprintf(buf + len, n - len, ", %s left", t);
    }
  }
  fmt_secs(t, sizeof t, now - prog.t0);
  if (len < n) snprintf(buf + len, n - len, "%s[%s]", len ? " " : "", t);
}

/* Draw if it is time; err_lock held. force: redraw a live line now. */
static void progress_draw(double now, int force) {
  if (!prog.active || prog.quiet) return;
  if (!prog.live && now - prog.last >= 10) prog.live = take_terminal();
  double every = prog.live ? 0.2 : 10;
  if (!force && now - prog.last < every) return;
  if (now - prog.t0 < 1) return; /* a stage of a second shows nothing */
  prog.last = now;
  char line[400];
  progress_text(line, sizeof line, now);
  char buf[512];
  int cols = 0;
  struct winsize ws;
  if (prog.live && ioctl(2, TIOCGWINSZ, &ws) == 0) cols = ws.ws_col;
  int room = cols > 0 ? cols - 1 - (int)strlen(fi_progname) - 2 : (int)sizeof line;
  if (room < 10) room = 10;
  int n = snprintf(buf, sizeof buf, "%s%s: %.*s%s", prog.tty ? "\r\033[K" : "", fi_progname, room, line,
                   prog.live ? "" : "\n");
  if (n > (int)sizeof buf - 1) n = (int)sizeof buf - 1;
  say(buf, (size_t)n);
  live_shown = prog.live;
}

static void *clock_main(void *arg) {
  (void)arg;
  for (;;) {
    struct timespec ts = {.tv_sec = 1};
    nanosleep(&ts, NULL);
    pthread_mutex_lock(&err_lock);
    progress_draw(fi_now(), 0);
    pthread_mutex_unlock(&err_lock);
  }
  return NULL;
}

/* The stage starts showing; err_lock held. */
static void progress_start(void) {
  if (!prog.started) {
    prog.started = 1;
    prog.tty = isatty(2);
    prog.quiet = isatty(1); /* the output is on the terminal: it is the progress */
    prog.t0 = fi_now();
    prog.last = prog.t0 - 10; /* the first draw may come as soon as a second has passed */
    prog.live = take_terminal();
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    /* the clock blocks no signal and holds nothing at exit */
    if (pthread_create(&th, &at, clock_main, NULL) != 0) prog.started = 2;
    pthread_attr_destroy(&at);
  }
  prog.active = 1;
}

void fi_progress(const char *fmt, ...) {
  if (!fi_progress_on) return;
  pthread_mutex_lock(&err_lock);
  progress_start();
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prog.text, sizeof prog.text, fmt, ap);
  va_end(ap);
  progress_draw(fi_now(), 0);
  pthread_mutex_unlock(&err_lock);
}

void fi_progress_count(const char *unit, int64_t total) {
  if (!fi_progress_on) return;
  pthread_mutex_lock(&err_lock);
  progress_start();
  snprintf(prog.unit, sizeof prog.unit, "%s", unit ? unit : "");
  prog.total = total;
  atomic_store(&prog.done, 0);
  prog.tcount = fi_now();
  pthread_mutex_unlock(&err_lock);
}

void fi_progress_add(int64_t n) {
  if (!fi_progress_on) return;
  atomic_fetch_add(&prog.done, n);
  if (pthread_mutex_trylock(&err_lock) == 0) { /* a busy lock: the next one draws */
    progress_draw(fi_now(), 0);
    pthread_mutex_unlock(&err_lock);
  }
}

void fi_progress_end(void) {
  if (!fi_progress_on) return;
  pthread_mutex_lock(&err_lock);
  if (live_shown) say("\r\033[K", 4);
  live_shown = 0;
  prog.active = 0;
  prog.text[0] = prog.unit[0] = 0;
  prog.total = 0;
  atomic_store(&prog.done, 0);
  pthread_mutex_unlock(&err_lock);
}

void fi_done(long long nrecords) {
  fi_progress_end();
  fi_log("done %lld record%s", nrecords, nrecords == 1 ? "" : "s");
}

int fi_err_vset(fi_err *e, fi_err_kind kind, const char *setting, const char *fmt, va_list ap) {
  e->kind = kind;
  e->setting = setting;
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  return -1;
}

int fi_err_set(fi_err *e, fi_err_kind kind, const char *setting, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fi_err_vset(e, kind, setting, fmt, ap);
  va_end(ap);
  return -1;
}

int fi_write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

void *fi_malloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) fi_die("out of memory (allocating %zu bytes)", n);
  return p;
}

void *fi_calloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) fi_die("out of memory (allocating %zu x %zu bytes)", n, size);
  return p;
}

void *fi_realloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) fi_die("out of memory (allocating %zu bytes)", n);
  return q;
}

char *fi_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = fi_malloc(n);
  memcpy(d, s, n);
  return d;
}

size_t fi_mul_size(size_t n, size_t size, const char *what) {
  if (size && n > SIZE_MAX / size) fi_die("%s: size %zu x %zu overflows", what, n, size);
  return n * size;
}

void *fi_aligned(size_t n, size_t size) {
  size_t bytes = fi_mul_size(n, size, "aligned allocation");
  bytes = (bytes + 63) & ~(size_t)63;
  if (!bytes) bytes = 64;
  void *p = aligned_alloc(64, bytes);
  if (!p) fi_die("out of memory (allocating %zu bytes)", bytes);
  return p;
}

double fi_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* ---- standard descriptors and inputs ---- */
static int stdin_closed, stdin_taken;

/* Runs before main. A closed descriptor 0, 1 or 2 would be handed to the
 * next open(): a model file would then be read again as the record stream on
 * standard input, or records written into a file opened for something else.
 * Hold each closed one with /dev/null opened the wrong way round, so that any
 * use of it fails with EBADF, and remember that standard input was closed. */
__attribute__((constructor)) static void hold_closed_std_fds(void) {
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    int n = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
    if (n >= 0 && n != fd) {
      dup2(n, fd);
      close(n);
    }
    if (fd == 0) stdin_closed = 1;
  }
}

int fi_open_input(const char *path, const char **name) {
  struct stat st;
  if (!path || !strcmp(path, "-")) {
    *name = "standard input";
    if (stdin_closed) fi_die("standard input is closed: there is nothing to read");
    /* A second reader of "-" would see what the first left (usually
     * nothing) and pass for an empty input. */
    if (stdin_taken) fi_usage_error("standard input ('-') can feed only one input of a run; give the other as a file");
    stdin_taken = 1;
    if (fstat(0, &st) == 0 && S_ISDIR(st.st_mode)) fi_die("standard input is a directory, not a file");
    return 0;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) fi_die("cannot open %s: %s", path, strerror(errno));
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) fi_die("%s is a directory, not a file", path);
  *name = path;
  return fd;
}

/* ---- atomic output files ----
 * A regular file (or a new one) is written to a temp file beside it and
 * renamed over it on commit; a symlink is followed, so the temp and the
 * rename happen beside its final target and the link stays. A device or a
 * FIFO is written straight through: renaming over it would replace
 * /dev/null with a regular file. Temp files not committed are removed at exit
 * and on SIGHUP, SIGINT, SIGTERM and SIGXFSZ (then the signal is re-raised). */
struct fi_atomic {
  char *path;   /* what is written: the symlinks' final target */
  char *tmp;    /* NULL when writing straight through */
  int fd;
  atomic_int armed; /* tmp may exist and is ours: remove it on a signal */
  struct fi_atomic *next;
};
/* Read by the signal handler: nodes are published whole and never freed. */
static _Atomic(struct fi_atomic *) pending;
static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static const int cleanup_signals[] = {SIGHUP, SIGINT, SIGTERM, SIGXFSZ};
#define NCLEANUP (int)(sizeof cleanup_signals / sizeof *cleanup_signals)

static void remove_pending(void) {
  /* Async-signal-safe: atomic loads and unlink() only. */
  for (struct fi_atomic *a = atomic_load(&pending); a; a = a->next)
    if (atomic_load(&a->armed)) unlink(a->tmp);
}

static void on_fatal_signal(int sig) {
  remove_pending();
  raise(sig); /* SA_RESETHAND restored the default action: this ends the process */
}

static void install_cleanup(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_fatal_signal;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < NCLEANUP; i++) sigaddset(&sa.sa_mask, cleanup_signals[i]);
  for (int i = 0; i < NCLEANUP; i++) {
    struct sigaction old;
    /* A signal the caller ignores (nohup, a background job) stays ignored. */
    if (sigaction(cleanup_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    sigaction(cleanup_signals[i], &sa, NULL);
  }
  atexit(remove_pending);
}

/* The file a path names for writing: symlinks followed to their final target,
 * which need not exist yet (a dangling link is written through, as open()
 * would). Relative link targets are taken from the link's directory. */
static char *follow_links(const char *path) {
  char *cur = fi_strdup(path);
  for (int hops = 0; hops < 40; hops++) {
    struct stat st;
    if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) return cur;
    char link[4096];
    ssize_t n = readlink(cur, link, sizeof link - 1);
    if (n <= 0) return cur; /* let creating the temp file report it */
    link[n] = 0;
    const char *slash = strrchr(cur, '/');
    int dirlen = link[0] == '/' || !slash ? 0 : (int)(slash - cur + 1);
    size_t len = (size_t)dirlen + (size_t)n + 1;
    char *next = fi_malloc(len);
    snprintf(next, len, "%.*s%s", dirlen, cur, link);
    free(cur);
    cur = next;
  }
  fi_die("cannot write %s: too many levels of symbolic links", path);
}

fi_atomic *fi_atomic_begin(const char *path) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, install_cleanup);
  fi_atomic *a = fi_calloc(1, sizeof *a);
  struct stat st;
  if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode)) fi_die("cannot write %s: it is a directory", path);
    a->path = fi_strdup(path);
    a->fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (a->fd < 0) fi_die("cannot open %s: %s", path, strerror(errno));
    return a;
  }
  a->path = follow_links(path);
  size_t n = strlen(a->path) + 32;
  a->tmp = fi_malloc(n);
  const char *slash = strrchr(a->path, '/');
  int dirlen = slash ? (int)(slash - a->path + 1) : 0;
  /* A hidden name beside the target. Listed for removal before the file can
   * exist: a signal may be handled by any thread (OpenBLAS workers too), so
   * masking it in this one would not close the window. */
  int len = snprintf(a->tmp, n, "%.*s.%s.tmp.", dirlen, a->path, a->path + dirlen);
  pthread_mutex_lock(&pending_lock);
  a->next = atomic_load(&pending);
  atomic_store(&pending, a);
  pthread_mutex_unlock(&pending_lock);
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  for (int tries = 0;; tries++) {
    uint64_t r;
    if (getrandom(&r, sizeof r, 0) != sizeof r) r = (uint64_t)fi_now() * 1000003u ^ (uint64_t)getpid() << 32;
    for (int i = 0; i < 8; i++, r /= 62) a->tmp[len + i] = abc[r % 62];
    a->tmp[len + 8] = 0;
    atomic_store(&a->armed, 1);
    a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666); /* the umask applies */
    if (a->fd >= 0) break;
    int err = errno;
    atomic_store(&a->armed, 0); /* not ours */
    if (err != EEXIST || tries == 100) fi_die("cannot create %s: %s", a->tmp, strerror(err));
  }
  return a;
}

int fi_atomic_fd(const fi_atomic *a) { return a->fd; }

void fi_atomic_commit(fi_atomic *a) {
  if (a->fd >= 0) {
    /* devices and FIFOs refuse fsync with EINVAL: their writes were checked */
    if (fsync(a->fd) != 0 && errno != EINVAL && errno != EROFS) fi_die("writing %s: %s", a->path, strerror(errno));
    if (close(a->fd) != 0) fi_die("writing %s: %s", a->path, strerror(errno));
    a->fd = -1;
  }
  if (!a->tmp) { /* written straight through; never listed */
    free(a->path);
    free(a);
    return;
  }
  if (rename(a->tmp, a->path) != 0) fi_die("cannot rename %s to %s: %s", a->tmp, a->path, strerror(errno));
  atomic_store(&a->armed, 0); /* after the rename: a signal before it still removes the temp */
}

int fi_parse_ll(const char *s, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10); /* "010" is ten, as a user means it */
  if (errno || end == s || *end) return -1;
  *out = v;
  return 0;
}

int fi_parse_double(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v)) return -1;
  *out = v;
  return 0;
}

/* ---- RNG: xoshiro256** seeded by splitmix64 (public-domain algorithms) ---- */
static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void fi_rng_seed(fi_rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t fi_rng_next(fi_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

uint64_t fi_rng_below(fi_rng *r, uint64_t n) {
  /* Lemire-style rejection keeps it unbiased. */
  if (n == 0) return 0;
  uint64_t lim = -n % n;
  for (;;) {
    uint64_t x = fi_rng_next(r);
    if (x >= lim) return x % n;
  }
}

double fi_rng_uniform(fi_rng *r) { return (fi_rng_next(r) >> 11) * 0x1.0p-53; }

double fi_rng_normal(fi_rng *r) {
  double u1 = fi_rng_uniform(r), u2 = fi_rng_uniform(r);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

void fi_rng_shuffle(fi_rng *r, int64_t *a, int64_t n) {
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)fi_rng_below(r, (uint64_t)i + 1);
    int64_t t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

long fi_utf8_invalid_at(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t k;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) k = 1;
    else if (c == 0xe0) k = 2, lo = 0xa0;
    else if (c == 0xed) k = 2, hi = 0x9f;
    else if (c >= 0xe1 && c <= 0xef) k = 2;
    else if (c == 0xf0) k = 3, lo = 0x90;
    else if (c == 0xf4) k = 3, hi = 0x8f;
    else if (c >= 0xf1 && c <= 0xf3) k = 3;
    else return (long)i;
    if (n - i <= k) return (long)i;
    if (s[i + 1] < lo || s[i + 1] > hi) return (long)i;
    for (size_t j = 2; j <= k; j++)
      if (s[i + j] < 0x80 || s[i + j] > 0xbf) return (long)i;
    i += k + 1;
  }
  return -1;
}

int fi_is_regular_file(const char *path) {
  struct stat st;
  return path && strcmp(path, "-") && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}
