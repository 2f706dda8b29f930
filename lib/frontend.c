/* frontend.c - the `fastif` front door (see frontend.h). */
#include "frontend.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "opts.h"
#include "util.h"

void fi_self_dir(char *dir, size_t n) {
  ssize_t len = readlink("/proc/self/exe", dir, n - 1);
  if (len <= 0) fi_die("cannot find my own directory: %s", strerror(errno));
  dir[len] = 0;
  char *slash = strrchr(dir, '/');
  if (slash) *slash = 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int fi_list_tools(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) fi_die("cannot list %s: %s", dir, strerror(errno));
  char *names[256];
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 256) {
    char path[PATH_MAX + 256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (e->d_name[0] == '.' || !strcmp(e->d_name, "fastif") || strchr(e->d_name, '.')) continue;
    if (stat(path, &st) || !S_ISREG(st.st_mode) || access(path, X_OK)) continue;
    names[n++] = fi_strdup(e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, cmp_str);
  for (int i = 0; i < n; i++) {
    printf("%s\n", names[i]);
    free(names[i]);
  }
  if (fflush(stdout) || ferror(stdout)) fi_die("writing standard output: %s", strerror(errno));
  return 0;
}

void fi_run_tool(const char *dir, char **argv) {
  const char *name = argv[0];
  if (strchr(name, '/') || !strcmp(name, "fastif")) fi_usage_error("'%s' is not a fastif tool", name);
  if (strlen(name) > 255) fi_usage_error("no tool '%.40s...'", name);
  char path[PATH_MAX + 256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (access(path, X_OK)) fi_usage_error("no tool '%s' (fastif --list shows them)", name);
  execv(path, argv);
  fi_die("cannot run %s: %s", path, strerror(errno));
}

void fi_explain_knob(fi_explain_run *r, const char *name, const char *fmt, ...) {
  if (r->nknobs == FI_EXPLAIN_MAX_KNOBS) fi_die("internal: too many knobs");
  char value[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(value, sizeof value, fmt, ap);
  va_end(ap);
  size_t n = strlen(name) + strlen(value) + 2;
  r->knobs[r->nknobs] = fi_malloc(n);
  snprintf(r->knobs[r->nknobs++], n, "%s=%s", name, value);
}

void fi_explain_knob_num(fi_explain_run *r, const char *name, double x) {
  char buf[40];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, x);
    if (strtod(buf, NULL) == x) break;
  }
  fi_explain_knob(r, name, "%s", buf);
}

/* The graph beside the tools: a checkout (bin/../pipelines), an
 * installation (PREFIX/bin/../share/fastif/pipelines) or a checkout's
 * sanitized build (build/san/bin/../../../pipelines). */
static void find_graph(const char *dir, char *path, size_t n) {
  const char *where[] = {"%s/../pipelines/fastif.mk", "%s/../share/fastif/pipelines/fastif.mk",
                         "%s/../../../pipelines/fastif.mk"};
  for (int i = 0; i < 3; i++) {
    snprintf(path, n, where[i], dir);
    if (access(path, R_OK) == 0) return;
  }
  fi_die("cannot find the FastIF graph (pipelines/fastif.mk) beside %s: is fastif installed whole "
         "(make install)?", dir);
}

static int remove_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(p);
}

int fi_explain(fi_explain_run *r) {
  char graph[PATH_MAX + 64], tmp[PATH_MAX];
  find_graph(r->dir, graph, sizeof graph);
  const char *out = r->out;
  if (!out) {
    const char *t = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/fastif-explain.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmp)) fi_die("cannot make a temporary directory %s: %s", tmp, strerror(errno));
    out = tmp;
  }
  char jobs[32];
  snprintf(jobs, sizeof jobs, "-j%d", r->jobs > 0 ? r->jobs : 1);
  fi_explain_knob(r, "BIN", "%s", r->dir);
  fi_explain_knob(r, "OUT", "%s", out);
  const char *args[FI_EXPLAIN_MAX_KNOBS + 8];
  int na = 0;
  args[na++] = "make";
  args[na++] = "-s";
  args[na++] = "--no-print-directory";
  args[na++] = jobs;
  args[na++] = "-f";
  args[na++] = graph;
  for (int i = 0; i < r->nknobs; i++) args[na++] = r->knobs[i];
  args[na++] = r->target;
  args[na] = NULL;
  /* An interrupt reaches make and its steps (one process group); this
   * process waits for them, then removes its temporary directory. */
  struct sigaction ign = {.sa_handler = SIG_IGN}, old[3];
  const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
  for (int i = 0; i < 3; i++) sigaction(sigs[i], &ign, &old[i]);
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) fi_die("cannot start make: %s", strerror(errno));
  if (pid == 0) {
    for (int i = 0; i < 3; i++) sigaction(sigs[i], &old[i], NULL);
    setenv("FASTIF_PROGRESS", fi_progress_on ? "1" : "0", 1); /* the steps do as this process does */
    execvp("make", (char *const *)args);
    fprintf(stderr, "%s: error: cannot run make: %s\n", fi_progname, strerror(errno));
    _exit(127);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  if (!r->out) nftw(out, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  for (int i = 0; i < r->nknobs; i++) free(r->knobs[i]);
  r->nknobs = 0;
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
  if (WIFSIGNALED(st)) fi_die("the FastIF graph was stopped by signal %d", WTERMSIG(st));
  fi_die("the FastIF graph failed (make exit %d)%s", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
         r->out ? "; rerun to resume" : "");
}
