#!/usr/bin/env bash
# job.sh retrain|evaluate ID - one job of the LDS fan-out (pipelines/lds/fanout.sh), run in
# its work directory, on this machine or on a -S host:
#   retrain   models/ID.model  = $LDS_RETRAIN < (the training examples of subset ID)
#   evaluate  outputs/ID.mp    = lds --collect ID < ($LDS_EVAL models/ID.model < test.mp)
# The subset is ids/ID.mp (its subsets record); LDS_SUBSET=ID is in the environment
# of both commands. Its stderr is logs/ID.MODE.log; a result appears only when whole.
set -euo pipefail
mode=$1 id=$2
mkdir -p logs models outputs
exec 2> "logs/$id.$mode.log"
export LDS_SUBSET=$id
# One BLAS thread per job: the jobs are the parallelism.
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
t0=$(date +%s.%N)
case $mode in
  retrain)
    pick --ids "ids/$id.mp" train.mp | eval "$LDS_RETRAIN" > "models/$id.model.tmp"
    [ -s "models/$id.model.tmp" ] || { echo "lds: error: $id: the retrain command wrote no model" >&2; exit 1; }
    mv -f "models/$id.model.tmp" "models/$id.model" ;;
  evaluate)
    eval "$LDS_EVAL models/$id.model" < test.mp | lds --collect "$id" --output "$LDS_OUTPUT" > "outputs/$id.mp.tmp"
    mv -f "outputs/$id.mp.tmp" "outputs/$id.mp" ;;
  *) echo "job.sh: error: mode '$mode' is neither retrain nor evaluate" >&2; exit 2 ;;
esac
awk -v a="$t0" -v b="$(date +%s.%N)" -v m="$mode" -v id="$id" \
  'BEGIN { printf "lds: %s: %s took %.2f s\n", id, m, b - a }' >&2
echo "$id"
