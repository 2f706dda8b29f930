/* stream-index - index stream files for random access (formats/stream-index.md). */
#include <stdlib.h>

#include "opts.h"
#include "stream_index.h"
#include "util.h"

int main(int argc, char **argv) {
  const char *out;
  int check;
  const fi_opt opts[] = {
      FI_PATH("output", 'o', &out, NULL, "the index file (one FILE only); default FILE.sidx beside it"),
      FI_FLAG("check", 0, &check,
              "do not write: check that the index is current and that every record is the one it lists "
              "(reads the whole stream); exit 1 naming the first that is not"),
      {0}};
  const fi_tool tool = {
      "stream-index", "index stream files so that tools read only the records they use",
      "[-o SIDX] [--check] FILE...", opts,
      "Writes FILE.sidx beside each FILE (or -o's file): where each record starts, its size, CRC-32, id "
      "and label. ihvp --train and influence --train use FILE.sidx when it is there and current, and then "
      "read only the training rows they use (LiSSA's draws, kNN candidates); every record read through "
      "the index is checked against it. FILE must be a regular file; rebuild the index when it changes.",
      1, 1 << 20};
  int first = fi_parse_options(&tool, argc, argv);
  if (out && argc - first > 1) fi_usage_error("-o names one index: give one FILE with it");
  long long total = 0;
  for (int f = first; f < argc; f++) {
    const char *stream = argv[f];
    char *path = out ? NULL : fi_sidx_default_path(stream);
    const char *ixpath = out ? out : path;
    if (check) {
      fi_sidx *ix;
      char why[512];
      fi_sidx_status s = fi_sidx_open(stream, ixpath, &ix, why, sizeof why);
      if (s == FI_SIDX_ABSENT) fi_die("%s: no index %s", stream, ixpath);
      if (s == FI_SIDX_STALE) fi_die("%s: stale: rebuild it", why);
      total += fi_sidx_check(ix);
      fi_log("%s: %s is current (%lld records)", stream, ixpath, (long long)fi_sidx_count(ix));
      fi_sidx_close(ix);
    } else {
      int64_t n = fi_sidx_build(stream, ixpath);
      fi_log("%s: %lld records indexed in %s", stream, (long long)n, ixpath);
      total += n;
    }
    free(path);
  }
  fi_done(total);
  return 0;
}
