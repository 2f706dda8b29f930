#!/bin/bash
# --train-rows file (the training inputs in an unlinked temp file, read back
# batch by batch) gives bitwise the same records as --train-rows memory, for
# every way ihvp and fused influence touch the training set: LiSSA's random
# batches (one and two threads), CG's full-batch chunks, --scale auto, fused
# scores over all of train and over candidates. 1,500 images of 784 floats
# overflow the 4 MiB append buffer, so rows come from the file and from the
# buffer in one batch.
. "$(dirname "$0")/lib.sh"
F=/usr/share/datasets/fashion-mnist
import-idx --images $F/train-images-idx3-ubyte.gz --labels $F/train-labels-idx1-ubyte.gz \
  --limit 1510 --fashion 2>/dev/null > "$T/all.ex"
pick --head 1500 < "$T/all.ex" > "$T/train.ex" 2>/dev/null
pick --skip 1500 < "$T/all.ex" > "$T/test.ex" 2>/dev/null
train --arch mlp:16 --epochs 2 --seed 3 < "$T/train.ex" > "$T/m" 2>/dev/null
ok "an mlp on 1,500 images" test -s "$T/m"

both() { # name stdin command args... : runs with file and memory rows, compares bytes
  local name=$1 in=$2; shift 2
  "$@" --train-rows file < "$in" > "$T/$name.file" 2>"$T/$name.err"; local a=$?
  "$@" --train-rows memory < "$in" > "$T/$name.mem" 2>>"$T/$name.err"; local b=$?
  is "$a $b" "0 0" "$name: both runs succeed"
  ok "$name: --train-rows file and memory write the same bytes" cmp "$T/$name.file" "$T/$name.mem"
  ok "$name: a non-empty answer" test -s "$T/$name.file"
}
M=(--model "$T/m" --train "$T/train.ex")
both lissa-B1 "$T/test.ex" ihvp "${M[@]}" --depth 300 --batch 1 --repeats 2 --threads 1 --scale 50
both lissa-B7-t2 "$T/test.ex" ihvp "${M[@]}" --depth 100 --batch 7 --repeats 3 --threads 2 --hessian ggn
both scale-auto "$T/test.ex" ihvp "${M[@]}" --depth 50 --batch 4 --scale-batches 4 --scale-iters 5
both cg "$T/test.ex" ihvp "${M[@]}" --method cg --tol 1e-2 --max-iter 200 --chunk 512 --hessian ggn --damping 0.01 --scale 1
both hvp "$T/test.ex" ihvp "${M[@]}" --method hvp --chunk 333
cp "$T/lissa-B1.mem" "$T/s"
both fused /dev/null influence --ihvp "$T/s" "${M[@]}" --batch 200
both fused-l2 /dev/null influence --ihvp "$T/s" "${M[@]}" --batch 1000 --with-l2
# ids spread over the file part and the buffered tail, out of order
write_cands "$T/train.ex" "$T/test.ex" 1500 > "$T/cands"
both candidates /dev/null influence --ihvp "$T/s" "${M[@]}" --candidates "$T/cands" --batch 16
# A candidates file: only the named training examples are kept; from a pipe
# (which cannot be read twice) all are; the scores are the same bytes.
influence --ihvp "$T/s" "${M[@]}" --candidates <(cat "$T/cands") --batch 16 > "$T/cand-pipe" 2>/dev/null
ok "candidates from a pipe (all examples kept) = from a file (only the named kept)" \
  cmp "$T/cand-pipe" "$T/candidates.file"
like "$(cat "$T/candidates.err")" "kept the [0-9]+ of 1500 training examples" "the log says how many were kept"

# Fused scores over threads: the batches are the same for any --threads,
# each computed by one thread, so the bytes are the same (1, 2 and 5 threads
# over 24 batches of 64, the last one short; and the fan-out default).
for t in 1 2 5; do
  influence --ihvp "$T/s" "${M[@]}" --batch 64 --threads $t > "$T/th$t" 2>"$T/th$t.err"
  is "$?" 0 "fused --threads $t runs"
done
ok "fused: --threads 2 writes the bytes of --threads 1" cmp "$T/th1" "$T/th2"
ok "fused: --threads 5 writes the bytes of --threads 1" cmp "$T/th1" "$T/th5"
like "$(cat "$T/th2.err")" "scoring .* on 2 threads" "the log says how many threads scored"
FASTIF_JOBS=2 influence --ihvp "$T/s" "${M[@]}" --batch 64 > "$T/thj" 2>"$T/thj.err"
like "$(cat "$T/thj.err")" "on $(( $(nproc) / 2 > 1 ? $(nproc) / 2 : 1 )) threads" \
  "--threads 0 under FASTIF_JOBS=2: cores / 2 threads"
ok "and the same bytes" cmp "$T/th1" "$T/thj"
FASTIF_JOBS=many run influence --ihvp "$T/s" "${M[@]}"
is "$rc" 1 "FASTIF_JOBS not a number: exit 1"
like "$err" "FASTIF_JOBS='many'" "naming it"

# the rows' temp file goes under $TMPDIR; one that cannot be written is a one-line error
TMPDIR=/nonexistent/dir run influence --ihvp "$T/s" "${M[@]}"
is "$rc" 1 "an unusable TMPDIR: exit 1"
like "$err" "temp file for the training rows in /nonexistent/dir" "and the message names it"
done_testing
