#!/bin/bash
# python/fastif_torch: per-example layer factors against functorch
# vmap(grad) (tests/torch/factors.py), the adapter's streams against the C
# tools on an exported FastifNet (eval, grad --factored, ihvp, influence,
# dump), the command-line form against the API, and torch_export's refusal.
. "$(dirname "$0")/lib.sh"
export OMP_NUM_THREADS=1     # the CLI and the API compute with the same threads: same bytes
TT=$TOP/tests/torch

(cd "$TT" && $PY factors.py) > "$T/factors.out" 2>&1
tap_lines "$T/factors.out" 23

# ---- an exported FastifNet mlp through the C tools
ok "prepare: data, FastifNet export, the adapter's streams" $PY "$TT/interop.py" prepare "$T"
"$BIN/eval" --model "$T/model" < "$T/test" > "$T/c-pred" 2>/dev/null
grad --model "$T/model" --factored < "$T/train" > "$T/c-grad" 2>/dev/null
ok "dump reads the adapter's gradient records" dump "$T/py-grad"
run dump "$T/py-pred"
like "$out" '"pred_name":"(ant|bee|cat)"' "dump reads the adapter's predictions"
ihvp --model "$T/model" --train "$T/train" --method exact --scale 1 --damping 0.01 \
  < "$T/test-labelled" > "$T/ihvp" 2>/dev/null
ok "numpy rebuilds dense records from the factors" $PY "$TT/interop.py" dense "$T"
ihvp --model "$T/model" --train "$T/train" --method exact --scale 1 --damping 0.01 \
  < "$T/py-test-dense" > "$T/ihvp-py" 2>/dev/null
is "$?" 0 "ihvp accepts the rebuilt test gradients"
influence --ihvp "$T/ihvp" --model "$T/model" < "$T/py-grad" > "$T/scores-py-factored" 2>/dev/null
influence --ihvp "$T/ihvp" --model "$T/model" < "$T/c-grad" > "$T/scores-c-factored" 2>/dev/null
influence --ihvp "$T/ihvp" < "$T/py-dense" > "$T/scores-py-dense" 2>/dev/null
$PY "$TT/interop.py" compare "$T" > "$T/compare.out" 2>&1
tap_lines "$T/compare.out" 4

# ---- the command-line form gives the API's bytes
CLI=($PY -m fastif_torch)
"${CLI[@]}" gradients --model "$TT/models.py:SmallCNN" --model-args '{"channels": 4}' \
  --state-dict "$T/cnn.pt" --input-shape 1,6,6 --layers conv,fc2 --label sample --seed 3 \
  --batch 4 < "$T/images" > "$T/cli-grad" 2> "$T/cli-grad.err"
is "$?" 0 "CLI gradients runs"
is "$(cat "$T/cli-grad.err")" "fastif_torch: done 11 records" "CLI gradients: summary on stderr"
cmp -s "$T/cli-grad" "$T/api-cnn-grad"; is "$?" 0 "CLI gradients = API bytes (CNN, --label sample --seed 3, --layers)"
"${CLI[@]}" embeddings --model "$TT/models.py:SmallCNN" --state-dict "$T/cnn.pt" \
  --input-shape 1,6,6 --module fc1 --batch 4 < "$T/images" > "$T/cli-emb" 2>/dev/null
cmp -s "$T/cli-emb" "$T/api-cnn-emb"; is "$?" 0 "CLI embeddings = API bytes"
knn-select --build "$T/index" < "$T/cli-emb" 2>/dev/null
is "$?" 0 "knn-select indexes the embeddings"
"${CLI[@]}" predictions --model "$TT/models.py:SmallCNN" --state-dict "$T/cnn.pt" \
  --input-shape 1,6,6 --classes a,b,c --batch 4 < "$T/images" > "$T/cli-pred" 2>/dev/null
cmp -s "$T/cli-pred" "$T/api-cnn-pred"; is "$?" 0 "CLI predictions = API bytes"
pick --where 'pred!=label' < "$T/cli-pred" > "$T/wrong" 2>/dev/null
is "$(dump "$T/wrong" 2>/dev/null | grep -o '"id":"[^"]*"' | tr '\n' ' ')" \
   "$($PY -c 'import sys, fastif_stream as fs
print(" ".join("\"id\":\"%s\"" % r["id"] for r in fs.read_stream(open(sys.argv[1], "rb")) if r["pred"] != r["label"]), end=" ")' "$T/cli-pred")" \
   "pick --where 'pred!=label' selects the mistakes from the predictions"
"${CLI[@]}" gradients --model "$TT/models.py:TinyEncoder" --state-dict "$T/enc.pt" \
  --field tokens --batch 3 < "$T/seqs" > "$T/cli-enc-grad" 2>/dev/null
cmp -s "$T/cli-enc-grad" "$T/api-enc-grad"; is "$?" 0 "CLI --field tokens = API with padding positions"

# ---- errors: one line, exit 1 (data) or 2 (usage)
run "${CLI[@]}" gradients --model "$TT/models.py" --state-dict "$T/cnn.pt"
is "$rc" 2 "python3 -m fastif_torch: a usage error exits 2"
like "$err" "^fastif_torch: --model must be FILE.py:CLASS" "  and says why"
(cd "$TT" && $PY cli_errors.py "$T") > "$T/cli-errors.out" 2>&1
tap_lines "$T/cli-errors.out" 14

# ---- torch_export names the first unsupported module and points at the adapter
cat > "$T/export.py" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import torch_export as te
from models import SmallCNN
from torch import nn
for m in (SmallCNN(), nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 2))):
    try:
        te.export(m, "/nonexistent/x")
        print("exported")
    except ValueError as e:
        print(e)
EOF
run $PY "$T/export.py" "$TT"
like "$out" "cannot export SmallCNN: .*'conv' \(Conv2d\).*fastif_torch" "torch_export refuses a CNN naming its first unsupported module"
like "$out" "element 0 \(Conv2d\).*fastif_torch" "  and a Sequential with a Conv2d"
done_testing
