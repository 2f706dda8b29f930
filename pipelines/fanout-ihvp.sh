#!/usr/bin/env bash
# fanout-ihvp.sh - LiSSA's T repeats as GNU parallel jobs (one process per
# repeat, on this machine or on other hosts with -S), combined by
# `ihvp --combine` into exactly what `ihvp --repeats T` writes (but for the
# residual, which needs v: the parts' largest bounds it, parts_residual_max
# in formats/ihvp.md): repeat r draws its batches from a stream that
# depends only on (seed, r).
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
. "$here/pipelines/step.sh"
STEP_WHO=fanout-ihvp
for f in "$model" "$train"; do [ -r "$f" ] || die "cannot read $f"; done
d=$out.d
mkdir -p "$d"
# A failed run must not leave an older result (or an older run's repeats)
# looking current.
rm -f "$out" "$d/joblog" "$d/combine.log" "$d"/repeat-*.mp "$d"/repeat-*.log
cp "$model" "$d/model"
cp "$train" "$d/train.mp"
cat > "$d/query.mp"     # the test gradients (or examples), sent to every job
nq=$(count "$d/query.mp")
[ "$nq" -ge 1 ] || die "no test gradients (or examples) on standard input"
cd "$d"
# --env NAME for each OPENBLAS_* / GOTO_* / OMP_* variable set here (none is
# fine: sed, unlike grep, does not fail on no match under pipefail + set -e)
blas_env() { compgen -e | sed -nE 's/^((OPENBLAS|GOTO|OMP)_.*)$/--env \1/p' | tr '\n' ' '; }
remote=()
if [ -n "$ssh" ]; then
  # OpenBLAS's and OpenMP's settings travel too (see fanout-influence.sh).
  remote=(--sshlogin "$ssh" --env PATH $(blas_env) --workdir ".fastif-ihvp-$(hostname)-$$"
          --basefile model --basefile train.mp --basefile query.mp
          --return 'repeat-{}.mp' --return 'repeat-{}.log' --cleanup)
fi
extra=""
[ $# -gt 0 ] && extra=$(printf '%q ' "$@")
# --threads 1: one repeat per job; the jobs are the parallelism.
seq 0 $((repeats - 1)) |
  parallel --halt now,fail=1 --joblog joblog -j "$jobs" "${remote[@]}" \
    "ihvp --model model --train train.mp --method lissa --repeats 1 --repeat-offset {} --threads 1 $extra < query.mp > repeat-{}.mp 2> repeat-{}.log" ||
  { failed_jobs joblog; exit 1; }
# One record per test gradient from every repeat and from the combination
# (one in all with --mean).
want=$nq
case " $* " in *" --mean "*) want=1 ;; esac
files=()
for ((r = 0; r < repeats; r++)); do
  m=$(count "repeat-$r.mp")
  [ "$m" = "$want" ] || die "repeat $r: ihvp wrote $m records for the $nq test gradients; no $out"
  files+=("repeat-$r.mp")
done
cd - > /dev/null
(cd "$d" && ihvp --combine "${files[@]}") > "$out.tmp" 2> "$d/combine.log" ||
  { tool_errors "$d/combine.log"; rm -f "$out.tmp"; die "ihvp --combine failed (log: $d/combine.log)"; }
m=$(count "$out.tmp")
[ "$m" = "$want" ] || { rm -f "$out.tmp"; die "ihvp --combine wrote $m records for the $want of each repeat; no $out"; }
mv "$out.tmp" "$out"
echo "fanout-ihvp: done $repeats repeats -> $out" >&2
