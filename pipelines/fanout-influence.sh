#!/usr/bin/env bash
# fanout-influence.sh - influence of every training point on the test points
# of an ihvp stream, the training set split into shards that run as GNU
# parallel jobs, locally or on other hosts (--sshlogin), merged by
# rank. The only things sent to a job are the model, the ihvp vectors and its
# shard; the only thing returned is its scores: little communication.
#
# usage: fanout-influence.sh -m MODEL -t TRAIN -i IHVP -o DIR [-s SHARDS] [-j JOBS]
#                            [-b BATCH] [-S SSHLOGIN[,SSHLOGIN..]] [-- influence options]
# Output: DIR/scores.mp (all shards' scores, in shard order), DIR/joblog,
# DIR/shard-N.log (one log per job). Ranked output: rank < DIR/scores.mp
set -euo pipefail
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
PATH="${FASTIF_BIN:+$FASTIF_BIN:}$here/bin:$here/../../bin:$PATH"   # a checkout, or PREFIX/share/fastif
shards=4 jobs=$(nproc) batch=256 ssh="" model="" train="" ihvp="" dir=""
while getopts "m:t:i:o:s:j:b:S:h" o; do
  case $o in
    m) model=$OPTARG ;; t) train=$OPTARG ;; i) ihvp=$OPTARG ;; o) dir=$OPTARG ;;
    s) shards=$OPTARG ;; j) jobs=$OPTARG ;; b) batch=$OPTARG ;; S) ssh=$OPTARG ;; *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ -n "$model" ] && [ -n "$train" ] && [ -n "$ihvp" ] && [ -n "$dir" ] || usage
[ "$shards" -ge 1 ] 2>/dev/null || { echo "fanout-influence: -s must be a positive integer" >&2; exit 2; }
[ "$batch" -ge 1 ] 2>/dev/null || { echo "fanout-influence: -b must be a positive integer" >&2; exit 2; }
. "$here/pipelines/step.sh"
STEP_WHO=fanout-influence
for f in "$model" "$train" "$ihvp"; do [ -r "$f" ] || die "cannot read $f"; done
mkdir -p "$dir"
# A failed run must not leave an older result (or an older run's shards)
# looking current.
rm -f "$dir/scores.mp" "$dir/joblog" "$dir"/shard-*.mp "$dir"/shard-*.scores "$dir"/shard-*.log
cp "$model" "$dir/model"
cp "$ihvp" "$dir/ihvp.mp"
nq=$(count "$dir/ihvp.mp")
[ "$nq" -ge 1 ] || die "no ihvp records in $ihvp"
# One pass over the training set gives its size and its ids. A duplicate id
# is refused here as one `influence --train` refuses it: split across
# shards, each job would accept its copy and the merged scores hold both.
if ! pick --keep id "$train" 2> "$dir/train.log" | dump > "$dir/train.ids" 2>> "$dir/train.log"; then
  tool_errors "$dir/train.log"
  die "cannot read the training set $train"
fi
awk -v who="$STEP_WHO" -v f="$train" '
  $0 in first { printf "%s: error: record '\''%s'\'' (#%d of %s): duplicate id (also example #%d)\n",
                       who, substr($0, 8, length($0) - 9), NR - 1, f, first[$0] > "/dev/stderr"; exit 1 }
  { first[$0] = NR - 1 }' "$dir/train.ids"
n=$(wc -l < "$dir/train.ids")
[ "$n" -ge 1 ] || die "no training records in $train"
# Contiguous shards keep training order, so the merged scores list the
# training ids in the same order as a single run; shard sizes are multiples
# of the batch so every GEMM sees the same examples as in a single run
# `influence --batch BATCH`, and the scores are bitwise the same.
per=$(( (n + shards - 1) / shards ))
per=$(( (per + batch - 1) / batch * batch ))
shards=$(( (n + per - 1) / per ))
for ((s = 0; s < shards; s++)); do
  pick --skip $((s * per)) --head "$per" "$train" > "$dir/shard-$s.mp" 2> "$dir/shard-$s.log" ||
    { tool_errors "$dir/shard-$s.log"; die "cannot cut shard $s of $train"; }
done
cd "$dir"
# --env NAME for each OPENBLAS_* / GOTO_* / OMP_* variable set here (none is
# fine: sed, unlike grep, does not fail on no match under pipefail + set -e)
blas_env() { compgen -e | sed -nE 's/^((OPENBLAS|GOTO|OMP)_.*)$/--env \1/p' | tr '\n' ' '; }
remote=()
if [ -n "$ssh" ]; then
  wd=.fastif-fanout-$(hostname)-$$  # private remote dir (relative to the remote home)
  # Jobs on other hosts get the model, the ihvp and their shard sent, and
  # return scores and log; the fastif tools must be on the remote PATH.
  # OpenBLAS's and OpenMP's settings travel too: a kernel chosen differently
  # on the other host (OPENBLAS_CORETYPE) rounds differently.
  remote=(--sshlogin "$ssh" --env PATH --env FASTIF_JOBS $(blas_env) --basefile model --basefile ihvp.mp --transferfile {}
          --return '{.}.scores' --return '{.}.log' --cleanup --workdir "$wd")
fi
extra=""
[ $# -gt 0 ] && extra=$(printf '%q ' "$@")
# -j jobs side by side on each host: influence's default --threads is that
# host's cores / FASTIF_JOBS, so the jobs share the cores instead of each
# starting a thread per core.
export FASTIF_JOBS=$jobs
seq 0 $((shards - 1)) | sed 's/.*/shard-&.mp/' |
  parallel --halt now,fail=1 --joblog joblog -j "$jobs" "${remote[@]}" \
    "influence --ihvp ihvp.mp --model model --train {} --batch $batch $extra > {.}.scores 2> {.}.log" ||
  { failed_jobs joblog; exit 1; }
# Every shard scores every test point: one record per ihvp record.
for ((s = 0; s < shards; s++)); do
  m=$(count "shard-$s.scores")
  [ "$m" = "$nq" ] || die "shard-$s.mp: influence wrote $m score records for the $nq ihvp records; no scores.mp"
done
for ((s = 0; s < shards; s++)); do cat "shard-$s.scores"; done > scores.mp.tmp
mv scores.mp.tmp scores.mp
echo "fanout-influence: done $shards shards ($n training records) -> $dir/scores.mp" >&2
