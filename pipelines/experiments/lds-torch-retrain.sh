#!/bin/bash
# lds-torch-retrain.sh [train.py options] < training examples > state_dict - the PyTorch CNN
# of examples/torch-cnn as the RETRAIN of pipelines/lds.mk (stdin: a training stream,
# stdout: the model file). train.py reads and writes paths, so the subset goes to a
# temporary file first; one torch thread (--threads 1), since GNU parallel runs the jobs
# side by side. Seeded by train.py's --seed (default 1): a retrain is a function of the
# subset.
set -eu -o pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
d=$(mktemp -d "${TMPDIR:-/tmp}/lds-torch.XXXXXX")
trap 'rm -rf "$d"' EXIT
cat > "$d/train.mp"
[ -s "$d/train.mp" ] || { echo "lds-torch-retrain.sh: error: no training examples on stdin" >&2; exit 1; }
OMP_NUM_THREADS=1 PYTHONPATH="$here/python${PYTHONPATH:+:$PYTHONPATH}" /usr/bin/python3 \
  "$here/examples/torch-cnn/train.py" --threads 1 --train "$d/train.mp" --out "$d/model.pt" "$@"
cat "$d/model.pt"
