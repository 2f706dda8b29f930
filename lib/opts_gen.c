/* opts_gen.c - the man page (roff) and the bash completion of a tool,
 * generated from its option table (--help-man, --help-completion; the
 * build installs both). */
#include <stdio.h>
#include <string.h>

#include "opts.h"
#include "opts_internal.h"

/* ---- the man page: roff, from the same table ---- */

/* Text for roff: backslashes escaped, and a line that would start with a
 * control character ('.' or '\'') protected. */
static void roff(const char *s) {
  int bol = 1;
  for (; s && *s; s++) {
    if (bol && (*s == '.' || *s == '\'')) fputs("\\&", stdout);
    if (*s == '\\') fputs("\\e", stdout);
    else if (*s == '-') fputs("\\-", stdout);
    else putchar(*s);
    bol = *s == '\n';
  }
}

static void man_option(const char *shortf, const char *longf, const char *mv, const char *help, const char *tail) {
  printf(".TP\n%s \"", mv && *mv ? ".BI" : ".B");
  if (shortf) roff(shortf), printf(", ");
  roff(longf);
  if (mv && *mv) printf(" \" \""), roff(mv);
  printf("\"\n");
  roff(help);
  if (tail) roff(tail);
  printf("\n");
}

/* "fastif-ihvp" for ihvp, "fastif-explain" for "fastif explain", "fastif"
 * for fastif: the page's name, and with sep '_' the completion function's. */
static const char *page_name(const fi_tool *t, char *buf, size_t n, char sep) {
  snprintf(buf, n, "%s%s", strncmp(t->name, "fastif", 6) ? "fastif-" : "", t->name);
  for (char *c = buf; *c; c++)
    if (*c == ' ' || *c == '-') *c = sep;
  return buf;
}

void fi_opts_print_man(const fi_tool *t) {
  char up[96];
  page_name(t, up, sizeof up, '-');
  for (char *c = up; *c; c++)
    if (*c >= 'a' && *c <= 'z') *c = (char)(*c - 32);
  printf(".TH %s 1 \"\" \"fastif %s\" \"fastif manual\"\n.SH NAME\n", up, fi_version);
  roff(t->name), printf(" \\- "), roff(t->purpose), printf("\n.SH SYNOPSIS\n.B ");
  roff(t->name), printf("\n");
  /* usage: its first line follows the name; each further line ("   or:
   * TOOL ...", "       TOOL ...") is a form of its own */
  char line[1024];
  for (const char *u = t->usage; u && *u;) {
    const char *nl = strchr(u, '\n');
    size_t len = nl ? (size_t)(nl - u) : strlen(u);
    snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), u);
    const char *l = line;
    while (*l == ' ') l++;
    if (!strncmp(l, "or: ", 4)) l += 4;
    if (u != t->usage) printf(".br\n");
    roff(l), printf("\n");
    u = nl ? nl + 1 : NULL;
  }
  if (t->details) printf(".SH DESCRIPTION\n"), roff(t->details), printf("\n");
  printf(".SH OPTIONS\n");
  for (const fi_opt *o = t->opts; o && o->name; o++) {
    char sh[8], lo[96], mvb[160], tail[200];
    snprintf(sh, sizeof sh, "-%c", o->short_name);
    snprintf(lo, sizeof lo, "--%s", o->name);
    man_option(o->short_name ? sh : NULL, lo, fi_opt_metavar(o, mvb, sizeof mvb), o->help,
               fi_opt_default_text(o, tail, sizeof tail));
  }
  for (const fi_opt_builtin *b = fi_opt_builtins; b->name; b++)
    if (b->help) man_option(NULL, b->name, NULL, b->help, NULL);
  printf(".SH EXIT STATUS\n0 on success; 1 on a data or runtime error, with one line\n.RI \"\" %s \": error: ...\"\n"
         "on standard error naming the record or file; 2 on a usage error.\n", t->name);
  printf(".SH SEE ALSO\n.BR fastif (1),\nthe formats in\n.IR share/fastif/formats ,\nand\n.IR README.md .\n");
}

/* ---- bash completion: a function per tool, from the same table ---- */

void fi_opts_print_completion(const fi_tool *t) {
  char fn[96], mvb[160];
  page_name(t, fn, sizeof fn, '_');
  printf("# bash completion for %s (fastif %s), generated from its option table\n", t->name, fi_version);
  printf("_%s() {\n  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n  COMPREPLY=()\n", fn);
  if (t->delegates) {
    /* past the first word that is not an option, that word's completion
     * (a tool's, or a subcommand's: _fastif_NAME) takes over */
    printf("  local i\n  for ((i = 1; i < COMP_CWORD; i++)); do\n    [[ ${COMP_WORDS[i]} == -* ]] && continue\n"
           "    local f=_fastif_${COMP_WORDS[i]//-/_}\n"
           "    if declare -F \"$f\" >/dev/null; then\n"
           "      COMP_WORDS=(\"${COMP_WORDS[@]:i}\"); COMP_CWORD=$((COMP_CWORD - i)); \"$f\"\n    fi\n"
           "    return 0\n  done\n");
  }
  printf("  case $prev in\n");
  for (int pass = 0; pass < 3; pass++) { /* files, then choices, then other values */
    int any = 0;
    for (const fi_opt *o = t->opts; o && o->name; o++) {
      int want = o->kind == FI_OPT_PATH ? 0 : o->kind == FI_OPT_CHOICE ? 1 : o->kind == FI_OPT_FLAG ? -1 : 2;
      if (want != pass) continue;
      if (pass == 1) {
        printf("    --%s", o->name);
        if (o->short_name) printf("|-%c", o->short_name);
        printf(") COMPREPLY=($(compgen -W '%s' -- \"$cur\")); return 0 ;;\n", fi_opt_join(o, mvb, sizeof mvb, " "));
        continue;
      }
      printf(any ? "|--%s" : "    --%s", o->name);
      if (o->short_name) printf("|-%c", o->short_name);
      any = 1;
    }
    if (any && pass == 0) printf(") compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\")); return 0 ;;\n");
    if (any && pass == 2) printf(") return 0 ;;\n");
  }
  printf("  esac\n  if [[ $cur == -* ]]; then\n    COMPREPLY=($(compgen -W '");
  for (const fi_opt *o = t->opts; o && o->name; o++) {
    printf("--%s ", o->name);
    if (o->short_name) printf("-%c ", o->short_name);
  }
  for (const fi_opt_builtin *b = fi_opt_builtins; b->name; b++)
    if (b->help) printf("%s ", b->name);
  printf("' -- \"$cur\"))\n    return 0\n  fi\n");
  if (t->positional_max > 0) {
    const char *words = t->positional_kind && strcmp(t->positional_kind, "file") ? t->positional_kind : NULL;
    if (words) {
      printf("  COMPREPLY=($(compgen -W '");
      for (const char *c = words; *c; c++) putchar(*c == '|' ? ' ' : *c);
      /* a front end offers the tools beside it too */
      printf("%s' -- \"$cur\"))\n", t->delegates ? " $(\"${COMP_WORDS[0]}\" --list 2>/dev/null)" : "");
    } else {
      printf("  compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- \"$cur\"))\n");
    }
  }
  printf("  return 0\n}\n");
  if (!strchr(t->name, ' ')) printf("complete -F _%s %s\n", fn, t->name);
}
