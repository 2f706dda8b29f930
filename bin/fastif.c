/* fastif - run a fastif tool by name: `fastif eval ...` reaches the tool
 * even where the shell has a builtin of the same name (eval). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "opts.h"
#include "util.h"

/* The directory this executable lives in: the tools are installed together. */
static void self_dir(char *dir, size_t n) {
  ssize_t len = readlink("/proc/self/exe", dir, n - 1);
  if (len <= 0) fi_die("cannot find my own directory: %s", strerror(errno));
  dir[len] = 0;
  char *slash = strrchr(dir, '/');
  if (slash) *slash = 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int list_tools(const char *dir) {
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

int main(int argc, char **argv) {
  int list = 0;
  const fi_opt opts[] = {
      FI_FLAG("list", 'l', &list, "list the tools and exit"),
      {0}};
  const fi_tool tool = {"fastif", "run a fastif tool by name (fastif TOOL --help for its options)",
                        "TOOL [ARGS...]  |  fastif --list", opts,
                        "Useful where a tool's name is also a shell builtin: `eval --model M` in bash runs the "
                        "builtin eval, `fastif eval --model M` runs the tool.",
                        0, 1 << 20, 1};
  int first = fi_parse_options(&tool, argc, argv);
  char dir[PATH_MAX];
  self_dir(dir, sizeof dir);
  if (list) return list_tools(dir);
  if (first >= argc) fi_usage_error("which tool? (fastif --list shows them)");
  const char *name = argv[first];
  if (strchr(name, '/') || !strcmp(name, "fastif")) fi_usage_error("'%s' is not a fastif tool", name);
  char path[PATH_MAX + 256];
  if (strlen(name) > 255) fi_usage_error("no tool '%.40s...'", name);
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (access(path, X_OK)) fi_usage_error("no tool '%s' (fastif --list shows them)", name);
  execv(path, argv + first);
  fi_die("cannot run %s: %s", path, strerror(errno));
}
