/* pick - pass records through, keeping some records and some fields. */
#include <stdlib.h>
#include <string.h>

#include "cond.h"
#include "opts.h"
#include "stream.h"
#include "strset.h"
#include "util.h"

int main(int argc, char **argv) {
  int64_t head, skip;
  const char *ids_path, *keep, *drop, *where;
  int invert;
  const fi_opt opts[] = {
      FI_PATH("ids", 0, &ids_path, NULL,
              "keep records whose id is listed (text file, one id per line, or a stream's ids/id fields; "
              "- = standard input)"),
      FI_FLAG("invert", 'v', &invert, "with --ids: keep records whose id is not listed"),
      FI_I64("skip", 0, &skip, "0", "drop the first N matching records", .min = 0, .max = 1e18),
      FI_I64("head", 'n', &head, "-1", "stop after N matching records (-1: all)", .min = -1, .max = 1e18),
      FI_STR("where", 'w', &where, NULL,
             "keep records where FIELD OP VALUE holds; OP is == != < <= > >=, VALUE a number, a string or "
             "another field", .metavar = "EXPR"),
      FI_STR("keep", 0, &keep, NULL, "keep only these fields (comma list; id is always kept)", .metavar = "LIST"),
      FI_STR("drop", 0, &drop, NULL, "drop these fields (comma list)", .metavar = "LIST"),
      {0}};
  const fi_tool tool = {"pick", "pass records of a stream through, filtered by id, position or field",
                               "[--ids FILE [-v]] [--skip N] [--head N] [--keep LIST|--drop LIST] [FILE...] > stream",
                               opts, "Reads the files in order (standard input when none), like cat.", 0, 1 << 20};
  int first = fi_parse_options(&tool, argc, argv);
  if (keep && drop) fi_usage_error("--keep and --drop exclude each other");
  fi_cond cond;
  if (where && fi_cond_parse(where, &cond)) fi_usage_error("--where: cannot parse '%s' (want FIELD OP VALUE, OP one of == != < <= > >=)", where);
  fi_strset *ids = NULL;
  if (ids_path) {
    ids = fi_strset_new();
    fi_strset_load(ids, ids_path);
  }
  fi_strset *fields = NULL;
  if (keep || drop) {
    fields = fi_strset_new();
    char *list = fi_strdup(keep ? keep : drop);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) fi_strset_add(fields, tok);
    free(list);
  }
  fi_writer *w = fi_writer_open("-");
  long long seen = 0, written = 0;
  int nfiles = argc - first;
  for (int f = 0; f < (nfiles ? nfiles : 1); f++) {
    fi_reader *r = fi_reader_open(nfiles ? argv[first + f] : "-");
    const fi_record *rec;
    while ((head < 0 || written < head) && (rec = fi_read(r))) {
      if (ids && (fi_strset_find(ids, fi_rec_id(rec)) >= 0) == invert) continue;
      if (where && !fi_cond_eval(&cond, rec)) continue;
      if (++seen <= skip) continue; /* --skip and --head count matches */
      if (!fields) {
        fi_wraw(w, rec); /* untouched records are copied verbatim */
      } else {
        int nf = fi_rec_nfields(rec), n = 0;
        for (int i = 0; i < nf; i++) {
          const char *k = fi_rec_key_at(rec, i);
          if (strcmp(k, "id") && (fi_strset_find(fields, k) >= 0) == (keep != NULL)) n++;
        }
        fi_wbegin(w, fi_rec_id(rec), n);
        for (int i = 0; i < nf; i++) {
          const char *k = fi_rec_key_at(rec, i);
          if (strcmp(k, "id") && (fi_strset_find(fields, k) >= 0) == (keep != NULL)) fi_wcopy(w, k, rec, k);
        }
        fi_wend(w);
      }
      written++;
      fi_progress("%lld records", written);
    }
    fi_reader_close(r);
  }
  fi_writer_close(w);
  fi_strset_free(ids);
  fi_strset_free(fields);
  fi_done(written);
  return 0;
}
