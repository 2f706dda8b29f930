/* frontend.h - what the `fastif` front door does: find the tools beside
 * it, run one by name, and run the installed FastIF make graph
 * (pipelines/fastif.mk) for `fastif explain`. */
#ifndef FI_FRONTEND_H
#define FI_FRONTEND_H
#include <stddef.h>

/* The directory this executable lives in (the tools are installed together). */
void fi_self_dir(char *dir, size_t n);
/* Print the tools in dir, one per line, sorted; returns 0. */
int fi_list_tools(const char *dir);
/* Replace this process with tool argv[0] of dir (argv NULL-terminated);
 * usage error when there is no such tool. */
_Noreturn void fi_run_tool(const char *dir, char **argv);

#define FI_EXPLAIN_MAX_KNOBS 48
typedef struct {
  const char *dir;      /* the tools' directory (BIN) */
  const char *out;      /* the graph's OUT, or NULL: a temporary directory, removed at the end */
  const char *target;   /* "show" or "show-full" */
  int jobs;             /* make -j */
  int nknobs;
  char *knobs[FI_EXPLAIN_MAX_KNOBS]; /* "NAME=value" */
} fi_explain_run;
/* Add the make variable NAME=value (printf format). */
void fi_explain_knob(fi_explain_run *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* NAME=x with the shortest text that reads back as x. */
void fi_explain_knob_num(fi_explain_run *r, const char *name, double x);
/* Run the graph (make -s -f .../pipelines/fastif.mk BIN=dir OUT=.. KNOBS.. target),
 * its answer on standard output; returns the exit status for main: 0, or
 * 1 when the graph failed (the tools and make have said why). */
int fi_explain(fi_explain_run *r);

#endif
