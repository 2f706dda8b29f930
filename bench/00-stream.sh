#!/usr/bin/env bash
# bench/00-stream.sh - stream pass-through: 1 GiB of tensor payload (4096
# records of 65536 f32) through two filters: the first copies records
# verbatim, the second decodes, validates and re-encodes every record (pick
# --keep), both across pipes. Run by bench/run (BENCH_W = scratch dir).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/bin:$PATH"
W=${BENCH_W:?BENCH_W not set}
PY=/usr/bin/python3
now() { date +%s.%N; }
$PY - "$W/big.mp" <<'PYEOF'
import sys, msgpack, numpy as np
x = np.random.default_rng(0).random(1 << 16, dtype=np.float32).tobytes()
with open(sys.argv[1], "wb") as f:
    for i in range(4096):
        f.write(msgpack.packb({"id": f"g{i}", "grad": {"dtype": "f32", "shape": [1 << 16], "data": x}}))
PYEOF
payload=$((4096 * 65536 * 4))
best=1e9
for rep in 1 2 3; do
  t0=$(now)
  pick < "$W/big.mp" 2>/dev/null | pick --keep grad 2>/dev/null | cat > /dev/null
  t1=$(now)
  best=$(echo "$t1 $t0 $best" | awk '{d=$1-$2; print (d<$3)?d:$3}')
done
rm -f "$W/big.mp"
gbs=$(echo "$payload $best" | awk '{printf "%.2f", $1/$2/1e9}')
echo "bench: stream pass-through: $gbs GB/s of tensor payload (best of 3, 1 GiB)" >&2
echo "## Stream pass-through"
echo
echo "| what | payload | best of 3 | throughput |"
echo "|---|---|---|---|"
echo "| \`pick < big.mp \| pick --keep grad > /dev/null\` (4096 records × 65536 f32) | 1.07 GB | $(printf %.3f "$best") s | **$gbs GB/s** |"
echo
echo "Target ≥ 1 GB/s. The first stage copies records verbatim; the second decodes, validates and re-encodes each."
echo
