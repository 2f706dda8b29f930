#!/usr/bin/env bash
# fanout.sh - the retraining of the LDS graph (pipelines/lds.mk): one model per subset,
# retrained and evaluated on the test points as GNU parallel jobs (pipelines/lds/job.sh),
# on this machine or on other hosts (-S). Models and outputs are cached in DIR: a model
# is kept while its subset's record is unchanged, its outputs while the model is, so a
# rerun, a larger M or a new scoring method retrains nothing already made.
#
# usage: fanout.sh -d DIR -s SUBSETS -t TRAIN -e TEST -r RETRAIN -E EVAL [-O margin|loss]
#                  [-j JOBS] [-S SSHLOGIN[,SSHLOGIN..]] > outputs
# RETRAIN reads a training stream on stdin and writes a model on stdout; EVAL, given the
# model file as its last argument, reads test examples on stdin and writes predictions
# ({id, label, probs or logits}). Writes every subset's outputs record, in SUBSETS order.
# DIR holds ids/ID.mp, models/ID.model, outputs/ID.mp, logs/ID.{retrain,evaluate}.log and
# {retrain,evaluate}.joblog. A failed job stops the run naming its subset.
set -euo pipefail
usage() { sed -n '8,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
here=$(cd "$(dirname "$0")/../.." && pwd)
PATH="${FASTIF_BIN:+$FASTIF_BIN:}$here/bin:$here/../../bin:$PATH"   # a checkout, or PREFIX/share/fastif
dir="" subsets="" train="" test="" retrain="" evalc="" output=margin jobs=$(nproc) ssh=""
while getopts "d:s:t:e:r:E:O:j:S:h" o; do
  case $o in
    d) dir=$OPTARG ;; s) subsets=$OPTARG ;; t) train=$OPTARG ;; e) test=$OPTARG ;;
    r) retrain=$OPTARG ;; E) evalc=$OPTARG ;; O) output=$OPTARG ;; j) jobs=$OPTARG ;;
    S) ssh=$OPTARG ;; *) usage ;;
  esac
done
[ -n "$dir" ] && [ -n "$subsets" ] && [ -n "$train" ] && [ -n "$test" ] && [ -n "$retrain" ] && [ -n "$evalc" ] || usage
. "$here/pipelines/step.sh"
STEP_WHO=lds
for f in "$subsets" "$train" "$test"; do [ -r "$f" ] || die "cannot read $f"; done
subsets=$(realpath "$subsets") train=$(realpath "$train") test=$(realpath "$test")
mkdir -p "$dir"/{ids,models,outputs,logs}
cd "$dir"
rm -f models/*.tmp outputs/*.tmp ids/*.new   # left by a killed run; nothing reads them

# The subsets' ids, and each subset's record in a file of its own (the job's
# `pick --ids`), rewritten only when it changed: an older model is stale.
pick --keep id "$subsets" 2> logs/subsets.log | dump > ids.jsonl 2>> logs/subsets.log ||
  { tool_errors logs/subsets.log; die "cannot read the subsets $subsets"; }
sed 's/^{"id":"\(.*\)"}$/\1/' ids.jsonl > ids.list
grep -q '[/\\"]' ids.list && die "subset ids name files here: no '/', '\\' or '\"' in them"
n=$(wc -l < ids.list)
[ "$n" -ge 1 ] || die "no subsets in $subsets"
s=0
while read -r id; do
  pick --skip "$s" --head 1 "$subsets" > "ids/$id.new" 2> logs/subsets.log ||
    { tool_errors logs/subsets.log; die "cannot read subset $id of $subsets"; }
  if cmp -s "ids/$id.new" "ids/$id.mp"; then rm -f "ids/$id.new"; else mv -f "ids/$id.new" "ids/$id.mp"; fi
  s=$((s + 1))
done < ids.list

# What the jobs read, under the names job.sh uses (copies for other hosts).
for f in "$train:train.mp" "$test:test.mp" "$here/pipelines/lds/job.sh:job.sh"; do
  rm -f "${f#*:}"
  if [ -n "$ssh" ]; then cp "${f%%:*}" "${f#*:}"; else ln -s "${f%%:*}" "${f#*:}"; fi
done
export LDS_RETRAIN=$retrain LDS_EVAL=$evalc LDS_OUTPUT=$output

failed() { # MODE VERB LIST: each failed job's error lines, then which subset it was
  local seq code sig id log any=""
  while IFS=$'\t' read -r seq code sig; do
    id=$(sed -n "${seq}p" "$3") log=logs/$id.$1.log any=1
    [ -s "$log" ] && { grep ': error:' "$log" >&2 || tail -n 3 "$log" >&2; }
    echo "lds: error: $2 $id failed (exit $code, signal $sig; log: $PWD/$log)" >&2
  done < <(awk -F'\t' 'NR > 1 && $7 != 0 && $8 == 0 { print $1 "\t" $7 "\t" $8 }' "$1.joblog")
  [ -n "$any" ] || echo "lds: error: $2 stopped (jobs killed; see $PWD/$1.joblog)" >&2
  exit 1
}

phase() { # MODE VERB LIST BASEFILE SEND RETURN: run job.sh MODE on every id of LIST
  local mode=$1 verb=$2 list=$3 m i=0 remote=() bar=()
  m=$(wc -l < "$list")
  [ "$m" -ge 1 ] || return 0
  if [ -n "$ssh" ]; then
    remote=(--sshlogin "$ssh" --workdir ".fastif-lds-$(hostname)-$$" --cleanup
            --env PATH --env LDS_RETRAIN --env LDS_EVAL --env LDS_OUTPUT
            --basefile job.sh --basefile "$4" --transferfile "$5"
            --return "$6" --return "logs/{}.$mode.log")
  fi
  [ -t 2 ] && bar=(--bar)
  echo "lds: $verb $m of $n subsets ($jobs jobs${ssh:+ on $ssh})" >&2
  parallel --halt now,fail=1 --joblog "$mode.joblog" -j "$jobs" "${bar[@]}" "${remote[@]}" \
      bash job.sh "$mode" {} < "$list" |
    while read -r id; do
      i=$((i + 1))
      [ -t 2 ] || echo "lds: $verb $i/$m ($id)" >&2
    done || failed "$mode" "$verb" "$list"
}

while read -r id; do [ "models/$id.model" -nt "ids/$id.mp" ] || echo "$id"; done < ids.list > retrain.list
phase retrain retraining retrain.list train.mp 'ids/{}.mp' 'models/{}.model'
while read -r id; do [ "outputs/$id.mp" -nt "models/$id.model" ] || echo "$id"; done < ids.list > evaluate.list
phase evaluate evaluating evaluate.list test.mp 'models/{}.model' 'outputs/{}.mp'
while read -r id; do cat "outputs/$id.mp"; done < ids.list
