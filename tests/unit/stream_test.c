/* stream_test.c - writer/reader round trips, conversions, and the reader's
 * behaviour on every truncation of a valid stream (run in child processes,
 * since a bad stream makes the reader exit 1). */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "stream.h"
#include "tap.h"
#include "util.h"

static char path[256];

static void write_sample(const char *p) {
  fi_writer *w = fi_writer_open(p);
  float x[5] = {1.5f, -2.25f, 0.0f, 3.0e-8f, 1e30f};
  double d[2] = {0.1, -2.5};
  int32_t i32[3] = {-7, 0, 2147483647};
  int64_t i64[2] = {-((int64_t)1 << 40), 5};
  unsigned char u8[4] = {0, 1, 128, 255};
  int64_t sh23[2] = {2, 3}, n;
  float m[6] = {1, 2, 3, 4, 5, 6};
  fi_wbegin(w, "first", 5);
  fi_wint(w, "label", 2);
  n = 5; fi_wtensor(w, "x", FI_F32, 1, &n, x);
  fi_wstr(w, "text", "a \"quoted\", text\nwith newline");
  fi_wtensor(w, "m", FI_F32, 2, sh23, m);
  fi_wdouble(w, "loss", 0.125);
  fi_wend(w);
  fi_wbegin(w, "second", 4);
  n = 2; fi_wtensor(w, "d", FI_F64, 1, &n, d);
  n = 3; fi_wtensor(w, "i", FI_I32, 1, &n, i32);
  n = 2; fi_wtensor(w, "l", FI_I64, 1, &n, i64);
  n = 4; fi_wtensor(w, "u", FI_U8, 1, &n, u8);
  fi_wend(w);
  const char *ids[3] = {"a", "b", "c"};
  float sc[3] = {-1, 0.5f, 2};
  fi_wbegin(w, "third", 2);
  fi_wstrs(w, "ids", ids, 3);
  fi_wscored(w, "helpful", ids, sc, 3);
  fi_wend(w);
  fi_writer_close(w);
}

static long file_size(const char *p) {
  FILE *f = fopen(p, "rb");
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fclose(f);
  return n;
}

/* Child: read the first `len` bytes of path as a stream; exit 0 with the
 * record count written to fd `out`, or exit 1 via fi_die. */
static int read_prefix(long len, int *nrec) {
  int pfd[2];
  if (pipe(pfd)) abort();
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    char *buf = malloc(len + 1);
    FILE *f = fopen(path, "rb");
    if (fread(buf, 1, len, f) != (size_t)len) _exit(9);
    fclose(f);
    int in[2];
    if (pipe(in)) _exit(9);
    if (fork() == 0) {
      close(in[0]);
      if (write(in[1], buf, len) != len) _exit(9);
      _exit(0);
    }
    close(in[1]);
    dup2(in[0], 0);
    fi_reader *r = fi_reader_open("-");
    int n = 0;
    while (fi_read(r)) n++;
    if (write(pfd[1], &n, sizeof n) != sizeof n) _exit(9);
    _exit(0);
  }
  close(pfd[1]);
  int st;
  waitpid(pid, &st, 0);
  *nrec = -1;
  if (read(pfd[0], nrec, sizeof *nrec) != sizeof *nrec) *nrec = -1;
  close(pfd[0]);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Files in dir whose name contains ".tmp." (the writer's temp files). */
static int count_temps(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (strstr(e->d_name, ".tmp.")) n++;
  if (d) closedir(d);
  return n;
}

/* A child opens an atomic output, writes part of a record, tells us, and
 * waits; we send sig. It must die of sig and leave neither temp nor output. */
static int killed_mid_write(int sig, const char *dir, int *temps) {
  char out[512];
  snprintf(out, sizeof out, "%s/out.mp", dir);
  int ready[2];
  if (pipe(ready)) abort();
  pid_t pid = fork();
  if (pid == 0) {
    fi_writer *w = fi_writer_open(out);
    static float big[1 << 18];
    fi_wbegin(w, "r", 1);
    fi_wf32(w, "x", big, 1 << 18); /* 1 MB: past the writer's buffer, on disk */
    if (write(ready[1], "x", 1) != 1) _exit(9);
    for (;;) pause();
  }
  close(ready[1]);
  char c;
  if (read(ready[0], &c, 1) != 1) abort();
  close(ready[0]);
  int before = count_temps(dir);
  kill(pid, sig);
  int st;
  waitpid(pid, &st, 0);
  *temps = count_temps(dir);
  struct stat sb;
  return before == 1 && WIFSIGNALED(st) && WTERMSIG(st) == sig && stat(out, &sb) != 0;
}

int main(void) {
  /* As from an interactive shell, whatever the test runner ignores: the
   * first atomic output (write_sample) installs the cleanup handlers. */
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  snprintf(path, sizeof path, "/tmp/fastif-stream-test-%d.mp", (int)getpid());
  write_sample(path);
  fi_reader *r = fi_reader_open(path);
  const fi_record *rec = fi_read(r);
  ok(rec && !strcmp(fi_rec_id(rec), "first"), "first record id");
  int64_t label = -1;
  fi_rec_int(rec, "label", &label, 1);
  ok(label == 2, "label round trips");
  const float *x;
  int64_t n = fi_rec_f32(rec, "x", 5, &x, 1);
  ok(n == 5 && x[0] == 1.5f && x[1] == -2.25f && x[3] == 3.0e-8f && x[4] == 1e30f, "f32 tensor exact");
  fi_tensor t;
  fi_rec_tensor(rec, "m", &t, 1);
  ok(t.ndim == 2 && t.shape[0] == 2 && t.shape[1] == 3 && t.n == 6, "2-D shape kept");
  const char *s = fi_rec_str(rec, "text", NULL, 1);
  ok(!strcmp(s, "a \"quoted\", text\nwith newline"), "string with quotes and newline");
  double loss;
  fi_rec_double(rec, "loss", &loss, 1);
  ok(loss == 0.125, "double field");
  ok(!fi_rec_has(rec, "nope") && fi_rec_nfields(rec) == 6, "field count and absence");
  rec = fi_read(r);
  const float *f;
  n = fi_rec_f32(rec, "d", 2, &f, 1);
  ok(n == 2 && f[0] == 0.1f && f[1] == -2.5f, "f64 converts to f32");
  const int32_t *iv;
  n = fi_rec_i32(rec, "i", &iv, 1);
  ok(n == 3 && iv[0] == -7 && iv[2] == 2147483647, "i32 tensor");
  n = fi_rec_f32(rec, "u", 4, &f, 1);
  ok(n == 4 && f[3] == 255.0f, "u8 converts to f32");
  fi_rec_tensor(rec, "l", &t, 1);
  int64_t l0;
  memcpy(&l0, t.data, 8);
  ok(t.dtype == FI_I64 && l0 == -((int64_t)1 << 40), "i64 little-endian");
  rec = fi_read(r);
  const char **ids;
  const float *sc;
  n = fi_rec_strs(rec, "ids", &ids, 1);
  ok(n == 3 && !strcmp(ids[2], "c"), "string array");
  n = fi_rec_scored(rec, "helpful", &ids, &sc, 1);
  ok(n == 3 && !strcmp(ids[1], "b") && sc[1] == 0.5f, "scored list");
  ok(fi_read(r) == NULL, "clean end of stream");
  fi_reader_close(r);

  /* Every proper prefix either ends on a record boundary (exit 0 with the
   * records before it) or is reported as an error (exit 1); never a crash
   * and never a silently shortened record. */
  long size = file_size(path);
  long bad = 0;
  int boundaries = 0;
  for (long len = 0; len <= size; len++) {
    int nrec, rc = read_prefix(len, &nrec);
    if (rc == 0) {
      boundaries++;
      if (!(len == 0 || len == size || nrec >= 1)) bad++;
    } else if (rc != 1) {
      bad++;
      diag("prefix %ld: exit %d", len, rc);
    }
  }
  ok(bad == 0, "all %ld prefixes: exit 0 or 1, never a crash", size + 1);
  ok(boundaries == 4, "exactly the 4 record boundaries read cleanly (got %d)", boundaries);
  unlink(path);
  /* SIGINT, SIGTERM, SIGHUP during a write: the handler removes the temp
   * file, then the signal ends the process as it would have. */
  char dir[256];
  snprintf(dir, sizeof dir, "/tmp/fastif-stream-test-%d.d", (int)getpid());
  mkdir(dir, 0700);
  const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
  for (int i = 0; i < 3; i++) {
    int temps = -1;
    int died = killed_mid_write(sigs[i], dir, &temps);
    ok(died && temps == 0, "%s mid-write: killed by it, temp file removed (%d left)", strsignal(sigs[i]), temps);
  }
  rmdir(dir);
  return done_testing();
}
