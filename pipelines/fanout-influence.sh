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
for f in "$model" "$train" "$ihvp"; do [ -r "$f" ] || { echo "fanout-influence: error: cannot read $f" >&2; exit 1; }; done
mkdir -p "$dir"
rm -f "$dir/scores.mp"   # a failed run must not leave an older result looking current
cp "$model" "$dir/model"
cp "$ihvp" "$dir/ihvp.mp"
# Contiguous shards keep training order, so the merged scores list the
# training ids in the same order as a single run; shard sizes are multiples
# of the batch so every GEMM sees the same examples as in a single run
# `influence --batch BATCH`, and the scores are bitwise the same.
n=$(pick "$train" 2>&1 >/dev/null | sed -n 's/^pick: done \([0-9]*\) records$/\1/p')
[ "${n:-0}" -ge 1 ] || { echo "fanout-influence: error: no training records in $train" >&2; exit 1; }
per=$(( (n + shards - 1) / shards ))
per=$(( (per + batch - 1) / batch * batch ))
shards=$(( (n + per - 1) / per ))
[ "$shards" -ge 1 ] || shards=1
for ((s = 0; s < shards; s++)); do
  pick --skip $((s * per)) --head "$per" "$train" > "$dir/shard-$s.mp" 2>/dev/null
done
cd "$dir"
remote=()
if [ -n "$ssh" ]; then
  wd=.fastif-fanout-$(hostname)-$$  # private remote dir (relative to the remote home)
  # Jobs on other hosts get the model, the ihvp and their shard sent, and
  # return scores and log; the fastif tools must be on the remote PATH.
  remote=(--sshlogin "$ssh" --env PATH --basefile model --basefile ihvp.mp --transferfile {}
          --return '{.}.scores' --return '{.}.log' --cleanup --workdir "$wd")
fi
extra=""
[ $# -gt 0 ] && extra=$(printf '%q ' "$@")
seq 0 $((shards - 1)) | sed 's/.*/shard-&.mp/' |
  parallel --halt now,fail=1 --joblog joblog -j "$jobs" "${remote[@]}" \
    "influence --ihvp ihvp.mp --model model --train {} --batch $batch $extra > {.}.scores 2> {.}.log"
for ((s = 0; s < shards; s++)); do cat "shard-$s.scores"; done > scores.mp.tmp
mv scores.mp.tmp scores.mp
echo "fanout-influence: done $shards shards ($n training records) -> $dir/scores.mp" >&2
