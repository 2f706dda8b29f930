/* json_lines.c - JSON-lines files: one record per line, blank lines
 * skipped, each line parsed by fi_json_parse (json.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"
#include "util.h"

struct fi_jlines {
  FILE *f;
  char *name;
  int is_stdin;
  int64_t lineno;
  fi_jbuf line;
  fi_json_parser *p;
};

fi_jlines *fi_jlines_open(const char *path) {
  fi_jlines *j = fi_calloc(1, sizeof *j);
  const char *name;
  int fd = fi_open_input(path, &name); /* "-", a closed stdin, a directory: as every input */
  j->is_stdin = fd == 0;
  j->f = j->is_stdin ? stdin : fdopen(fd, "rb");
  if (!j->f) fi_die("cannot open '%s': %s", path, strerror(errno));
  j->name = fi_strdup(name);
  j->p = fi_json_parser_new();
  return j;
}

int64_t fi_jlines_lineno(const fi_jlines *j) { return j->lineno; }

/* One line into j->line (without '\n'); 0 at EOF. The limit keeps memory per
 * record bounded even for input without newlines: JSON text of a tensor is
 * at most ~25 bytes per binary byte (u8 "255," is 4; f32 is <= 16/4). */
static int read_line(fi_jlines *j) {
  size_t limit = fi_max_record_bytes();
  limit = limit > SIZE_MAX / 32 ? SIZE_MAX : limit * 32;
  j->line.n = 0;
  int c, any = 0;
  while ((c = getc_unlocked(j->f)) != EOF) {
    any = 1;
    if (c == '\n') break;
    if (j->line.n >= limit)
      fi_die("%s: line %lld: longer than %zu bytes (FASTIF_MAX_RECORD_MB)", j->name, (long long)j->lineno + 1, limit);
    fi_jb_c(&j->line, (char)c);
  }
  if (ferror(j->f)) fi_die("%s: read error: %s", j->name, strerror(errno));
  if (!any) return 0;
  j->lineno++;
  return 1;
}

const void *fi_jlines_next(fi_jlines *j, int require_id, size_t *nbytes) {
  while (read_line(j)) {
    size_t k = 0;
    while (k < j->line.n && strchr(" \t\r", j->line.p[k])) k++;
    if (k == j->line.n) continue; /* blank line */
    size_t col;
    const char *why;
    const void *m = fi_json_parse(j->p, j->line.p, j->line.n, require_id, nbytes, &col, &why);
    if (!m) fi_die("%s: line %lld, column %zu: %s", j->name, (long long)j->lineno, col, why);
    return m;
  }
  return NULL;
}

void fi_jlines_close(fi_jlines *j) {
  if (!j) return;
  if (!j->is_stdin) fclose(j->f);
  fi_json_parser_free(j->p);
  fi_jbuf_free(&j->line);
  free(j->name);
  free(j);
}
