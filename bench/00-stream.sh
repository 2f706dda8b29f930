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
# the same bytes through cat in the same pipe shape: the machine's own
# ceiling for moving them across pipes, measured in the same run
best=1e9 base=1e9
for rep in 1 2 3; do
  t0=$(now)
  pick < "$W/big.mp" 2>/dev/null | pick --keep grad 2>/dev/null | cat > /dev/null
  t1=$(now)
  cat < "$W/big.mp" | cat | cat > /dev/null
  t2=$(now)
  best=$(echo "$t1 $t0 $best" | awk '{d=$1-$2; print (d<$3)?d:$3}')
  base=$(echo "$t2 $t1 $base" | awk '{d=$1-$2; print (d<$3)?d:$3}')
done
rm -f "$W/big.mp"
gbs=$(echo "$payload $best" | awk '{printf "%.2f", $1/$2/1e9}')
cgbs=$(echo "$payload $base" | awk '{printf "%.2f", $1/$2/1e9}')
echo "bench: stream pass-through: $gbs GB/s of tensor payload (best of 3, 1 GiB)" >&2
echo "## Stream pass-through"
echo
echo "| what | payload | best of 3 | throughput |"
echo "|---|---|---|---|"
echo "| \`pick < big.mp \| pick --keep grad \| cat > /dev/null\` (4096 records × 65536 f32) | 1.07 GB | $(printf %.3f "$best") s | **$gbs GB/s** |"
echo "| \`cat < big.mp \| cat \| cat > /dev/null\` (the same bytes, the same pipes) | 1.07 GB | $(printf %.3f "$base") s | $cgbs GB/s |"
echo
echo "Target ≥ 1 GB/s. The first stage copies records verbatim; the second decodes, validates and re-encodes each."
echo "The cat row is this machine's ceiling for moving the bytes across two pipes, in the same run: fastif's"
echo "filters are at $(awk -v a="$base" -v b="$best" 'BEGIN { printf "%.0f%%", 100 * a / b }') of it (on a VM, pipe throughput itself varies from run to run)."
echo
