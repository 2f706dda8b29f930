#!/usr/bin/env bash
# fanout-ihvp.sh - LiSSA's T repeats as GNU parallel jobs (one process per
# repeat, on this machine or on other hosts with -S), combined by
# `ihvp --combine` into exactly what `ihvp --repeats T` writes: repeat r
# draws its batches from a stream that depends only on (seed, r).
#
# usage: fanout-ihvp.sh -m MODEL -t TRAIN -o OUT [-T REPEATS] [-j JOBS]
#                       [-S SSHLOGIN[,SSHLOGIN..]] [-- ihvp options] < test-gradients
# Output: OUT (the combined ihvp stream), OUT.d/joblog, OUT.d/repeat-R.log.
set -euo pipefail
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
PATH="${FASTIF_BIN:+$FASTIF_BIN:}$here/bin:$here/../../bin:$PATH"   # a checkout, or PREFIX/share/fastif
repeats=4 jobs=$(nproc) ssh="" model="" train="" out=""
while getopts "m:t:o:T:j:S:h" o; do
  case $o in
    m) model=$OPTARG ;; t) train=$OPTARG ;; o) out=$OPTARG ;;
    T) repeats=$OPTARG ;; j) jobs=$OPTARG ;; S) ssh=$OPTARG ;; *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ -n "$model" ] && [ -n "$train" ] && [ -n "$out" ] || usage
[ "$repeats" -ge 1 ] 2>/dev/null || { echo "fanout-ihvp: -T must be a positive integer" >&2; exit 2; }
for f in "$model" "$train"; do [ -r "$f" ] || { echo "fanout-ihvp: error: cannot read $f" >&2; exit 1; }; done
d=$out.d
mkdir -p "$d"
rm -f "$out"   # a failed run must not leave an older result looking current
cp "$model" "$d/model"
cp "$train" "$d/train.mp"
cat > "$d/query.mp"     # the test gradients (or examples), sent to every job
cd "$d"
remote=()
if [ -n "$ssh" ]; then
  remote=(--sshlogin "$ssh" --env PATH --workdir ".fastif-ihvp-$(hostname)-$$"
          --basefile model --basefile train.mp --basefile query.mp
          --return 'repeat-{}.mp' --return 'repeat-{}.log' --cleanup)
fi
extra=""
[ $# -gt 0 ] && extra=$(printf '%q ' "$@")
# --threads 1: one repeat per job; the jobs are the parallelism.
seq 0 $((repeats - 1)) |
  parallel --halt now,fail=1 --joblog joblog -j "$jobs" "${remote[@]}" \
    "ihvp --model model --train train.mp --repeats 1 --repeat-offset {} --threads 1 $extra < query.mp > repeat-{}.mp 2> repeat-{}.log"
files=()
for ((r = 0; r < repeats; r++)); do files+=("repeat-$r.mp"); done
cd - > /dev/null
(cd "$d" && ihvp --combine "${files[@]}") > "$out.tmp" 2>> "$d/combine.log"
mv "$out.tmp" "$out"
echo "fanout-ihvp: done $repeats repeats -> $out" >&2
