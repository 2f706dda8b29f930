#!/bin/bash
# Every tool (each bin/*.c with a built binary) answers --help with exit 0 and
# a usage line, lists every option of its table with a default (or says it
# is required), and rejects an unknown option with exit 2.
. "$(dirname "$0")/lib.sh"
ntools=0
for src in "$TOP"/bin/*.c; do
  tool=$(basename "$src" .c)
  [ -x "$BIN/$tool" ] || { diag "$tool: not built, skipped"; continue; }
  ntools=$((ntools + 1))
  run "$BIN/$tool" --help
  is "$rc" 0 "$tool --help exits 0"
  like "$(printf '%s' "$out" | tr 'A-Z' 'a-z')" "usage:" "$tool --help shows a usage line"
  is "$err" "" "$tool --help writes nothing to stderr"
  # Option lines start with "-x, --name" or "--name"; each needs a default.
  missing=$(printf '%s\n' "$out" | grep -E '^ +(-[A-Za-z0-9], )?--[a-z]' |
            grep -vE '^ +--help ' | grep -vE '\((default|required)' || true)
  is "$missing" "" "$tool --help gives every option a default or marks it required"
  # Every long option named in the source's option table appears in --help.
  absent=""
  names=$(grep -oE 'FI_(FLAG|INT|I64|U64|DOUBLE|NUM_AUTO|STR|PATH|CHOICE)\("[a-z0-9][a-z0-9-]*"' "$src" | sed -E 's/^[^"]*"([^"]+)".*/\1/')
  [ -n "$names" ] || absent="(no option rows found in $src)"
  for name in $names; do
    printf '%s\n' "$out" | grep -qE -- "--$name( |$)" || absent="$absent $name"
  done
  is "$absent" "" "$tool --help lists every option of its table"
  run "$BIN/$tool" --no-such-option
  is "$rc" 2 "$tool --no-such-option exits 2"
  like "$err" "^$tool: .*no-such-option" "$tool --no-such-option names the option"
done
ok "found built tools" test "$ntools" -gt 0
done_testing
