#!/bin/bash
# Every tool (each bin/*.c with a built binary, and `fastif explain`)
# answers --help with exit 0 and a usage line, lists every option of its
# table with a default (or says it is required), and rejects an unknown
# option with exit 2. Its man page (--help-man, and the page the build
# made for `make install`) lists every option and renders without groff
# warnings; its bash completion offers every option, and every choice of
# an option with choices. The option names come from the source's table
# rows, the choices from --help's "--name a|b|c" lines.
. "$(dirname "$0")/lib.sh"
MAN=$TOP/${FASTIF_BUILD:-build/opt}/man
COMPL=$TOP/${FASTIF_BUILD:-build/opt}/completion
complete_words() { # SCRIPT FUNCTION WORD...: the candidates bash completion offers for the last WORD
  local script=$1 fn=$2; shift 2
  bash -c 'source "$1"; fn=$2; shift 2; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); "$fn"; printf "%s\n" "${COMPREPLY[@]}"' \
    _ "$script" "$fn" "$@" 2>&1
}
ntools=0
for src in "$TOP"/bin/*.c; do
  tool=$(basename "$src" .c)
  [ -x "$BIN/$tool" ] || { diag "$tool: not built, skipped"; continue; }
  ntools=$((ntools + 1))
  names=$(grep -oE 'FI_(FLAG|INT|I64|U64|DOUBLE|NUM_AUTO|STR|PATH|CHOICE)\("[a-z0-9][a-z0-9-]*"' "$src" | sed -E 's/^[^"]*"([^"]+)".*/\1/')
  cmds=("$tool")
  [ "$tool" = fastif ] && cmds+=("fastif explain")   # fastif.c holds two tables
  helps="" mans=""
  for cmd in "${cmds[@]}"; do
    read -ra argv <<< "$cmd"
    argv[0]=$BIN/${argv[0]}
    page=fastif-${cmd#fastif }; page=${page// /-}; [ "$cmd" = fastif ] && page=fastif
    fn=_${page//-/_}
    run "${argv[@]}" --help
    is "$rc" 0 "$cmd --help exits 0"
    like "$(printf '%s' "$out" | tr 'A-Z' 'a-z')" "usage:" "$cmd --help shows a usage line"
    is "$err" "" "$cmd --help writes nothing to stderr"
    # Option lines start with "-x, --name" or "--name"; each needs a default.
    missing=$(printf '%s\n' "$out" | grep -E '^ +(-[A-Za-z0-9], )?--[a-z]' |
              grep -vE '^ +--(help|version) ' | grep -vE '\((default|required)' || true)
    is "$missing" "" "$cmd --help gives every option a default or marks it required"
    help=$out
    helps+=$out$'\n'
    run "${argv[@]}" --help-man
    is "$rc/$err" "0/" "$cmd --help-man exits 0, quietly"
    mans+=$out$'\n'
    is "$(printf '%s\n' "$out" | groff -man -Tutf8 -ww -z 2>&1)" "" "$cmd's man page renders without groff warnings"
    if [ -s "$MAN/$page.1" ]; then
      ok "the build made its man page $page.1 from the tool" cmp -s "$MAN/$page.1" <(printf '%s\n' "$out")
    else
      _report 1 "the build made its man page $page.1"
    fi
    # Completion: every option, and the choices of each option that has them.
    run "${argv[@]}" --help-completion
    printf '%s\n' "$out" > "$T/compl.bash"
    offered=$(complete_words "$T/compl.bash" "$fn" "${cmd%% *}" -)
    wanted=$(printf '%s\n' "$help" | grep -oE '^ +(-[A-Za-z0-9], )?--[a-z][a-z0-9-]*' | grep -oE -- '--?[a-z0-9][a-z0-9-]*' | sort -u)
    absent=$(comm -23 <(printf '%s\n' "$wanted") <(printf '%s\n' "$offered" | sort -u) | tr '\n' ' ')
    is "$absent" "" "completing '$cmd -' offers every option of its --help"
    bad=""
    while read -r opt choices; do
      got=$(complete_words "$T/compl.bash" "$fn" "${cmd%% *}" "$opt" "" | sort | tr '\n' '|')
      want=$(printf '%s\n' "${choices//|/$'\n'}" | sort | tr '\n' '|')
      [ "$got" = "$want" ] || bad="$bad $opt($got)"
    done < <(printf '%s\n' "$help" | grep -oE -- '--[a-z][a-z0-9-]* [a-z0-9]+(\|[a-z0-9]+)+ ' | sed 's/ $//')
    is "$bad" "" "completing a choice option of '$cmd' offers exactly its choices"
  done
  # Every long option named in the source's option table appears in --help and the man page.
  absent="" unmanned=""
  [ -n "$names" ] || absent="(no option rows found in $src)"
  for name in $names; do
    printf '%s\n' "$helps" | grep -qE -- "--$name( |$)" || absent="$absent $name"
    printf '%s\n' "$mans" | grep -qF -- "\\-\\-${name//-/\\-}" || unmanned="$unmanned $name"
  done
  is "$absent" "" "$tool --help lists every option of its table"
  is "$unmanned" "" "$tool's man page lists every option of its table"
  [ -s "$COMPL/$tool" ] && grep -q "^complete -F _fastif.* $tool\$" "$COMPL/$tool"
  is "$?" 0 "the build made its bash completion file $tool"
  run "$BIN/$tool" --no-such-option
  is "$rc" 2 "$tool --no-such-option exits 2"
  like "$err" "^$tool: .*no-such-option" "$tool --no-such-option names the option"
done
ok "found built tools" test "$ntools" -gt 0
# `fastif TOOL <tab>` hands over to the tool's completion (the fastif file holds them all).
is "$(complete_words "$COMPL/fastif" _fastif fastif ihvp --method "" | sort | tr '\n' ' ')" "auto cg exact hvp identity lissa " \
  "completing 'fastif ihvp --method' offers ihvp's methods"
like "$(complete_words "$COMPL/fastif" _fastif fastif "" | tr '\n' ' ')" "explain .*influence .*knn-select" \
  "completing 'fastif' offers explain and the tools"
like "$(complete_words "$COMPL/fastif" _fastif fastif explain --me | tr '\n' ' ')" "^--method $" \
  "completing 'fastif explain --me' offers --method"
done_testing
