# pipelines/experiments/lib.sh - helpers sourced by the experiment scripts.
# Every command that makes a number goes through x (or timed), which appends
# it, as run (in $OUT, with bin/ on PATH; the checkout's paths written
# relative to its top, not as the absolute path of this checkout), to $CMDS for RESULTS.md,
# and sends the tools' stderr to $LOG. Scripts run with set -e -o pipefail.
set -eu -o pipefail
: "${FASTIF:?}" "${OUT:?}"
BIN=${BIN:-$FASTIF/bin}
X=$FASTIF/pipelines/experiments
PY=/usr/bin/python3
export PATH="$BIN:$X:$PATH"
cd "$OUT"
STATS=stats.py
note() { echo "experiments: $*" >&2; }
x() { # "command line": log it, run it (eval), tool stderr to $LOG
  local c=${1//$BIN\//}             # bin/eval is written $BIN/eval (bash has an eval)
  echo "${c//$FASTIF\//}" >> "$CMDS" # paths in the checkout, relative to its top
  echo "\$ $1" >> "$LOG"
  eval "$1" 2>> "$LOG"
}
now() { date +%s.%N; }
timed() { # VAR "command line": like x, and VAR = wall seconds
  local t0 t1
  t0=$(now); x "$2"; t1=$(now)
  printf -v "$1" '%s' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
field() { # FILE KEY: the KEY field of the first record (a number or string)
  $PY -c 'import sys,msgpack; r=next(iter(msgpack.Unpacker(open(sys.argv[1],"rb"),raw=False))); print(r[sys.argv[2]])' "$1" "$2"
}
commands_block() { # [TITLE]: the commands of $CMDS as a folded markdown block
  echo "<details><summary>${1:-commands}</summary>"
  echo
  echo '```sh'
  cat "$CMDS"
  echo '```'
  echo
  echo "</details>"
}
