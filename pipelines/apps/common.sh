# pipelines/apps/common.sh - shared settings and steps of the application scripts.
# Source it; needs OUT and DIR (a data directory with model, train.mp, ...).
set -euo pipefail
APPS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FASTIF=$(cd "$APPS/../.." && pwd)
BIN=${BIN:-$FASTIF/bin}
PY=${PY:-/usr/bin/python3}
FSQ="$PY $APPS/fsq.py"
: "${OUT:?OUT must name an output directory}" "${DIR:?DIR must name a data directory}"
mkdir -p "$OUT"
LOG=$OUT/log
: > "$LOG"
K=${K:-1000}               # kNN candidates (FastIF pre-selection)
THREADS=${THREADS:-2}

# quiet TOOL ARGS...: run a tool, its stderr to the log (shown if it fails)
quiet() {
  if ! "$@" 2>>"$LOG"; then
    echo "$(basename "$0"): error: $* failed; last lines of $LOG:" >&2
    tail -n 5 "$LOG" >&2
    return 1
  fi
}

# index MODEL POOL PREFIX: embeddings of POOL under MODEL and their FAISS index
index() {
  quiet "$BIN/embed" --model "$1" < "$2" > "$3.emb.mp"
  quiet "$BIN/knn-select" --build "$3.index" < "$3.emb.mp"
}

# scores MODEL TRAIN POOL PREFIX QUERY [--mean]: FastIF influence of POOL
# examples on the QUERY examples (one s_test per query, or one for their mean
# loss with --mean, id "mean"): kNN top-K of POOL by embedding, s_test
# (ihvp's defaults over TRAIN's objective), influence on the candidates -> PREFIX.scores.mp
scores() {
  local model=$1 train=$2 pool=$3 p=$4 query=$5 mean=${6:-}
  index "$model" "$pool" "$p"
  quiet "$BIN/embed" --model "$model" < "$query" |
    quiet "$BIN/knn-select" --index "$p.index" -k "$K" $mean > "$p.cand.mp"
  # ihvp's defaults: --method auto (LiSSA at these P) on the Gauss-Newton
  # matrix (--hessian auto for mlp), which stays positive semi-definite after
  # fine-tuning steps, so LiSSA converges at the default damping; a failure
  # is the tool's, reported as such.
  "$BIN/ihvp" --model "$model" --train "$train" --threads "$THREADS" --seed "${IHVP_SEED:-0}" \
    ${IHVP_OPTS:-} $mean < "$query" > "$p.ihvp.mp" 2>>"$LOG" ||
    { echo "$(basename "$0"): error: ihvp failed; see $LOG" >&2; return 1; }
  quiet "$BIN/influence" --ihvp "$p.ihvp.mp" --model "$model" --train "$pool" \
    --candidates "$p.cand.mp" > "$p.scores.mp"
}
