/* csv_test - the RFC 4180 reader against golden parses: each input is
 * rendered as "LINE:[f1|f2|..]" per row (fields escaped so \r \n | show),
 * or ends in "ERR:<message>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "csv.h"
#include "tap.h"

static char out[8192];

static void append(const char *s) { strncat(out, s, sizeof out - strlen(out) - 1); }

static void render(fi_csv *c, int header) {
  out[0] = '\0';
  int r;
  char tmp[64];
  if (header) {
    r = fi_csv_header(c);
    if (r < 0) {
      append("ERR:");
      append(fi_csv_error(c));
      return;
    }
    append("H[");
    for (int i = 0; i < fi_csv_ncolumns(c); i++) {
      if (i) append("|");
      append(fi_csv_column_name(c, i));
    }
    append("] ");
  }
  while ((r = fi_csv_next(c)) == 1) {
    snprintf(tmp, sizeof tmp, "%ld:[", fi_csv_line(c));
    append(tmp);
    for (int i = 0; i < fi_csv_nfields(c); i++) {
      size_t len;
      const char *f = fi_csv_field(c, i, &len);
      if (i) append("|");
      if (strlen(f) != len) append("<LEN MISMATCH>");
      for (; *f; f++) {
        char e[3] = {*f, 0, 0};
        if (*f == '\n') strcpy(e, "\\n");
        if (*f == '\r') strcpy(e, "\\r");
        if (*f == '|') strcpy(e, "\\|");
        append(e);
      }
    }
    append("] ");
  }
  if (r < 0) {
    append("ERR:");
    append(fi_csv_error(c));
  }
}

static FILE *file_with(const char *data, size_t n) {
  FILE *f = tmpfile();
  if (!f || fwrite(data, 1, n, f) != n || fflush(f) || fseek(f, 0, SEEK_SET)) {
    perror("tmpfile");
    exit(1);
  }
  return f;
}

static void check_n(const char *data, size_t n, int header, size_t max_row, const char *want,
                    const char *what) {
  FILE *f = file_with(data, n);
  char err[256];
  fi_csv *c = fi_csv_fopen(f, "t.csv", err, sizeof err);
  if (!c) {
    ok(0, "%s: open: %s", what, err);
    fclose(f);
    return;
  }
  if (max_row) fi_csv_set_max_row(c, max_row);
  render(c, header);
  if (!ok(!strcmp(out, want), "%s", what)) {
    diag("got:  %s", out);
    diag("want: %s", want);
  }
  fi_csv_close(c);
  fclose(f);
}

#define check(data, header, want, what) check_n(data, sizeof(data) - 1, header, 0, want, what)

int main(void) {
  check("a,b\n1,2\n", 1, "H[a|b] 2:[1|2] ", "simple header + row");
  check("a,b\r\n1,2\r\n3,4", 1, "H[a|b] 2:[1|2] 3:[3|4] ", "CRLF line ends, no final newline");
  check("a,b\r1,2\r", 1, "H[a|b] 2:[1|2] ", "lone CR line ends");
  check("x\n\"he said \"\"hi\"\"\"\n", 1, "H[x] 2:[he said \"hi\"] ", "doubled quotes");
  check("x,y\n\"a,b\",c\n", 1, "H[x|y] 2:[a,b|c] ", "comma inside quotes");
  check("x,y\n\"line1\nline2\",z\nq,r\n", 1, "H[x|y] 2:[line1\\nline2|z] 4:[q|r] ",
        "LF inside quotes; line numbers count it");
  check("x,y\r\n\"l1\r\nl2\",z\r\nq,r\r\n", 1, "H[x|y] 2:[l1\\r\\nl2|z] 4:[q|r] ",
        "CRLF inside quotes kept verbatim, counted once");
  check("x,y,z\n,,\n\"\",\"\",\"\"\n", 1, "H[x|y|z] 2:[||] 3:[||] ", "empty fields");
  check("x,y\n1,\n", 1, "H[x|y] 2:[1|] ", "trailing empty field");
  check("x\n\n1\n\r\n\n2\n", 1, "H[x] 3:[1] 6:[2] ", "empty lines skipped, still counted");
  check("\xEF\xBB\xBFid,v\n1,2\n", 1, "H[id|v] 2:[1|2] ", "UTF-8 BOM dropped");
  check("\xEF\xBD\x86,x\n", 0, "1:[\xEF\xBD\x86|x] ", "leading U+FF46 is data, not a BOM");
  check("\xEF\xBB\xBF", 0, "", "BOM only: no rows");
  check(" a , b \n", 0, "1:[ a | b ] ", "spaces are data");
  check("\"\"\"\"\n", 0, "1:[\"] ", "a field that is one quote");
  check("", 0, "", "empty input: no rows");
  check("", 1, "ERR:t.csv:1: no header row (empty input)", "empty input: no header");
  check("a,b\n1,2\n3\n", 1, "H[a|b] 2:[1|2] ERR:t.csv:3: ragged row: 1 field, expected 2 (as in the header)",
        "ragged row (short)");
  check("a,b\n1,2,3\n", 1, "H[a|b] ERR:t.csv:2: ragged row: 3 fields, expected 2 (as in the header)",
        "ragged row (long)");
  check("1,2\n3\n", 0, "1:[1|2] ERR:t.csv:2: ragged row: 1 field, expected 2 (as in the first row)",
        "ragged row without header");
  check("a,label,label\n1,0,1\n", 1,
        "ERR:t.csv:1: column name 'label' appears twice in the header (columns 2 and 3)",
        "a repeated column name is refused, naming both columns");
  check("\"a\nb\",x,\"a\nb\"\n1,2,3\n", 1,
        "ERR:t.csv:1: column name 'a\nb' appears twice in the header (columns 1 and 3)",
        "... also quoted names over several lines");
  check("a,b\n1,\"open\n2,3\n4,5\n", 1,
        "H[a|b] ERR:t.csv:2: unterminated quoted field (no closing quote before the end of the input)",
        "unterminated quote named at its opening line");
  check("a\n\"x\"y\n", 1, "H[a] ERR:t.csv:2: unexpected 'y' after a closing quote (quotes inside a quoted field must be doubled)",
        "junk after closing quote");
  check("a\nx\"y\n", 1, "H[a] ERR:t.csv:2: quote inside an unquoted field (quote the whole field and double the quote)",
        "bare quote in unquoted field");
  check_n("a\nx\0y\n", 6, 1, 0, "H[a] ERR:t.csv:2: NUL byte in a field", "NUL byte rejected");
  check_n("a,b\n1234,5678\n12,34\n", 20, 1, 8, "H[a|b] 2:[1234|5678] 3:[12|34] ",
          "row of exactly the limit accepted");
  check_n("a,b\n1234,56789\n", 15, 1, 8,
          "H[a|b] ERR:t.csv:2: row longer than 8 bytes (a missing closing quote?)",
          "over-long row rejected");

  /* gzip-compressed input is read transparently */
  {
    const char text[] = "k,v\n\"a\nb\",1\n";
    char path[] = "/tmp/csv_test.XXXXXX";
    int fd = mkstemp(path);
    gzFile gz = fd < 0 ? NULL : gzdopen(fd, "wb");
    ok(gz && gzwrite(gz, text, sizeof text - 1) == (int)(sizeof text - 1) && gzclose(gz) == Z_OK,
       "wrote gzip file");
    char err[256];
    fi_csv *c = fi_csv_open(path, err, sizeof err);
    ok(c != NULL, "open gzip csv");
    if (c) {
      render(c, 1);
      ok(!strcmp(out, "H[k|v] 2:[a\\nb|1] "), "gzip content parsed: %s", out);
      ok(fi_csv_column(c, "v") == 1 && fi_csv_column(c, "1") == 0 && fi_csv_column(c, "3") == -1 &&
             fi_csv_column(c, "nope") == -1,
         "column lookup by name and 1-based number");
      fi_csv_close(c);
    }
    /* a truncated gzip stream is an error, not a silent short file */
    FILE *f = fopen(path, "rb");
    char buf[256];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    f = fopen(path, "wb");
    if (f) {
      fwrite(buf, 1, n - 10, f);
      fclose(f);
    }
    c = fi_csv_open(path, err, sizeof err);
    if (c) {
      render(c, 1);
      ok(strstr(out, "ERR:") && strstr(out, "read error"), "truncated gzip reported: %s", out);
      fi_csv_close(c);
    }
    unlink(path);
  }
  char err[256];
  ok(fi_csv_open("/nonexistent/x.csv", err, sizeof err) == NULL && strstr(err, "/nonexistent/x.csv"),
     "open error names the file: %s", err);
  return done_testing();
}
