#!/bin/bash
# lds-torch-section.sh get|put LDS.md - the PyTorch section of LDS.md, between the lines
# <!-- lds-torch begin --> and <!-- lds-torch end -->, made by `make lds-torch` and kept
# by `make lds` (which rewrites the rest of the file):
#   get LDS.md           print the section with its marker lines (nothing if there is none)
#   put LDS.md < section replace the section with stdin, or append it; writes a temporary
#                        file and renames it, so LDS.md is never half-written
set -eu -o pipefail
[ $# = 2 ] || { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
begin='<!-- lds-torch begin -->' end='<!-- lds-torch end -->'
case $1 in
  get) [ -e "$2" ] || exit 0
       awk -v b="$begin" -v e="$end" '$0 == b { on = 1 } on { print } $0 == e { on = 0 }' "$2" ;;
  put) new=$(cat)
       [ -n "$new" ] || { echo "lds-torch-section.sh: error: empty section on stdin" >&2; exit 1; }
       { [ -e "$2" ] && awk -v b="$begin" -v e="$end" '$0 == b { on = 1 } !on { print } $0 == e { on = 0 }' "$2" |
           sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'  # without its trailing blank lines
         [ -s "$2" ] && echo
         echo "$begin"; echo; printf '%s\n' "$new"; echo; echo "$end"; } > "$2.tmp"
       mv -f "$2.tmp" "$2" ;;
  *) echo "lds-torch-section.sh: error: get or put, not '$1'" >&2; exit 2 ;;
esac
