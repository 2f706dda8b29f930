/* dump - tensor stream <-> JSON lines (formats/stream.md, "JSON lines"). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "opts.h"
#include "stream.h"
#include "util.h"

int main(int argc, char **argv) {
  int reverse, single;
  int64_t head;
  const fi_opt opts[] = {
    FI_FLAG("reverse", 'r', &reverse, "read JSON lines, write the msgpack stream"),
    FI_I64("head", 'n', &head, "0", "stop after N records (0 = all)", .metavar = "N", .min = 0, .max = 9e18),
    FI_FLAG("single", 's', &single, "input is one map without an id (a model file)"),
    {0}};
  const fi_tool tool = {
    "dump", "print a tensor stream as JSON lines, or turn JSON lines back into a stream",
    "[--reverse] [--head N] [FILE|-] > output", opts,
    "One record per line; tensors become {\"dtype\",\"shape\",\"data\"} with data as nested "
    "lists, non-tensor bin becomes {\"$bin\": base64}, non-finite floats become "
    "{\"$float\": \"NaN\"} (inside tensors just \"NaN\", \"Infinity\", ...). Floats print "
    "with the fewest digits that read back exactly, so stream -> dump -> dump --reverse "
    "reproduces the stream byte for byte. FILE defaults to standard input.",
    0, 1};
  int first = fi_parse_options(&tool, argc, argv);
  const char *path = first < argc ? argv[first] : "-";
  long long n = 0;

  if (reverse) {
    fi_jlines *j = fi_jlines_open(path);
    fi_writer *w = fi_writer_open("-");
    const void *rec;
    size_t nbytes;
    while ((head == 0 || n < head) && (rec = fi_jlines_next(j, !single, &nbytes))) {
      if (single && n == 1) fi_die("%s: --single expects one record, found another at line %lld", path, (long long)fi_jlines_lineno(j));
      fi_wencoded(w, rec, nbytes); /* canonical already: no re-encoding */
      n++;
      fi_progress("%lld records", n);
    }
    if (single && n == 0) fi_die("%s: empty input", path);
    fi_jlines_close(j);
    fi_writer_close(w);
    fi_done(n);
    return 0;
  }

  fi_reader *r = fi_reader_open(path);
  fi_jbuf line = {0};
  const fi_record *rec;
  while ((head == 0 || n < head) && (rec = single ? (n ? NULL : fi_read_single(r, "file")) : fi_read(r))) {
    line.n = 0;
    fi_json_record(rec, &line);
    if (fwrite(line.p, 1, line.n, stdout) != line.n) fi_die("writing standard output: %s", strerror(errno));
    n++;
    fi_progress("%lld records", n);
  }
  fi_reader_close(r);
  fi_jbuf_free(&line);
  if (fflush(stdout) != 0 || ferror(stdout)) fi_die("writing standard output: %s", strerror(errno));
  fi_done(n);
  return 0;
}
