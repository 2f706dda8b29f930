#!/bin/bash
# ihvp without a model file: --method identity (s = v), --curvature CURV
# (K-FAC, EK-FAC, diagonal inverses), against the numpy reference in
# tests/curv/ref.py on synthetic layer-factor streams.
. "$(dirname "$0")/lib.sh"
REF=$TOP/tests/curv/ref.py
runb() { "$@" >"$T/.run.out" 2>"$T/.run.err"; rc=$?; err=$(cat "$T/.run.err"); }
lt() { $PY -c "import sys; sys.exit(not float('$1') < float('$2'))"; }

$PY "$REF" write "$T/train.g" r7bias 400 7
$PY "$REF" write "$T/test.g" r7bias 6 8

# --method identity: the gradient-dot-product baseline, no model file
runb ihvp --method identity < "$T/test.g"; is "$rc" 0 "identity runs on factor records with no model"
cp "$T/.run.out" "$T/id.ihvp"
e=$($PY "$REF" check-identity "$T/id.ihvp" "$T/test.g")
ok "identity: s is each record's dense gradient (max rel err $e)" lt "$e" 1e-6
runb ihvp --method identity --train "$T/train.g" < "$T/test.g"; is "$rc" 2 "identity with --train is a usage error"
$PY - "$T" <<'PY'
import sys, numpy as np, fastif_stream as fs
with open(sys.argv[1] + "/ex.ms", "wb") as f:
    fs.write_record(f, {"id": "e", "label": 1, "x": np.ones(3, np.float32)})
PY
runb ihvp --method identity < "$T/ex.ms"; is "$rc" 1 "identity on examples without a model: exit 1"
like "$err" "record 'e'.*without a model file" "... naming the record"
done_testing
