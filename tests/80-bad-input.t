#!/bin/bash
# Bad input, every tool that reads a stream, a model, a CSV or an IDX file:
# exit 1 (2 for usage errors) with ONE "TOOL: error: ..." line naming the
# record or file, no crash or sanitizer report, no hang, no output file left
# behind, and no allocation driven by a forged size. The corpus is written by
# tests/bad/make.py.
. "$(dirname "$0")/lib.sh"
# Memory still held when fi_die exits is not a leak worth reporting (the
# process ends); sanitized runs here check memory errors and UB, not leaks.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
B=$T/bad
$PY "$TOP/tests/bad/make.py" "$B" || { echo "Bail out! tests/bad/make.py failed"; exit 1; }
MAXRSS_KB=${MAXRSS_KB:-300000}   # far below any forged size; generous for ASan

# bad RC REGEX STDIN TOOL ARGS... : one case
bad() {
  local want=$1 re=$2 in=$3 tool=$4; shift 4
  local desc="$tool $* < ${in#$B/}"
  /usr/bin/time -f '%M' -o "$T/.rss" timeout 60 "$BIN/$tool" "$@" <"$in" >"$T/.bad.out" 2>"$T/.bad.err"
  local rc=$? why=""
  local nerr; nerr=$(grep -c ': error: ' "$T/.bad.err")
  local line
  if [ "$want" = 2 ]; then line=$(head -n 1 "$T/.bad.err"); else line=$(grep -m1 ": error: " "$T/.bad.err"); fi
  [ "$rc" = "$want" ] || why="exit $rc, want $want;"
  if [ "$want" = 1 ]; then
    [ "$nerr" = 1 ] || why="$why $nerr error lines;"
    printf '%s' "$line" | grep -Eq -- "^$tool: error: .*($re)" || why="$why message does not match /$re/;"
  elif [ "$want" = 2 ]; then
    printf '%s' "$line" | grep -Eq -- "^$tool: .*($re)" || why="$why message does not match /$re/;"
  fi
  grep -Eq 'Sanitizer|runtime error|Segmentation|Aborted' "$T/.bad.err" && why="$why sanitizer/crash report;"
  local rss; rss=$(tail -n 1 "$T/.rss" 2>/dev/null)
  [ -n "$rss" ] && [ "$rss" -gt "$MAXRSS_KB" ] && why="$why peak RSS ${rss} KB;"
  if [ -z "$why" ]; then _report 0 "$desc"; else
    _report 1 "$desc"; echo "#   $why"; sed 's/^/#   stderr: /' "$T/.bad.err" | head -n 5
  fi
}
REC="record '"                   # the error names a record by id
POS="record #[0-9]+"             # ... or by position when the id itself is bad

# ---- framing and ids: every stream reader ----
M=$B/ok.model
readers=("eval -m $M" "embed -m $M" "grad -m $M" "train --arch linear" "finetune-step -m $M --lr 0.1"
         "dump" "pick" "rank" "knn-select --build $T/k.idx" "influence --ihvp $B/ihvp.ms"
         "ihvp -m $M --train $B/ok.ms --depth 5")
for f in notmap array garbage bigmap bigstr; do   # the first record is bad
  for r in "${readers[@]}"; do bad 1 "$POS" "$B/$f.ms" $r; done
done
for f in trailing noid emptyid intid spaceid binkey; do   # a later record is bad
  for r in "${readers[@]:0:7}"; do bad 1 "$POS" "$B/$f.ms" $r; done
done
# ihvp --train, influence --train and rank --join read a second stream
for f in garbage noid trailing; do
  bad 1 "$POS" "$B/grads.ms" ihvp -m "$M" --train "$B/$f.ms"
  bad 1 "$POS" "$B/grads.ms" influence --ihvp "$B/ihvp.ms" -m "$M" --train "$B/$f.ms"
  bad 1 "$POS" "$B/scores.ms" rank --join "$B/$f.ms"
done

# ---- a valid stream cut at every byte ----
n=$(stat -c %s "$B/ok2.ms")
first=$($PY -c "import msgpack,sys; u=msgpack.Unpacker(open(sys.argv[1],'rb'),raw=False); next(u); print(u.tell())" "$B/ok2.ms")
for tool in "dump" "eval -m $M" "grad -m $M" "train --arch linear"; do
  fails=""
  for ((k = 1; k < n; k++)); do
    head -c $k "$B/ok2.ms" > "$T/cut.ms"
    timeout 20 $BIN/$tool < "$T/cut.ms" > /dev/null 2> "$T/cut.err"; rc=$?
    want=1; [ $k = "$first" ] && want=0
    [ "$tool" = "train --arch linear" ] && [ $k = "$first" ] && want=1   # one example, one class
    if [ $rc != $want ] || grep -q 'Sanitizer\|runtime error' "$T/cut.err" ||
       { [ $want = 1 ] && [ "$(grep -c ': error: ' "$T/cut.err")" != 1 ]; }; then fails="$fails $k:$rc"; fi
  done
  is "$fails" "" "${tool%% *}: a 2-record stream cut at each of its $((n - 1)) inner bytes"
done

# ---- tensors, values, labels: tools reading examples ----
ex_tools=("eval -m $M" "embed -m $M" "grad -m $M" "train --arch linear" "finetune-step -m $M --lr 0.1"
          "ihvp -m $M --train $B/ok.ms --depth 5")
for f in x-str x-nodata x-dtype x-dtype-int x-shape-str x-shape-neg x-shape-float x-short x-long \
         x-huge x-overflow x-ndim x-dim x-nan x-inf x-f64-huge label-str label-float label-huge label-neg; do
  for r in "${ex_tools[@]}"; do bad 1 "$REC" "$B/$f.ms" $r; done
done
for r in "eval -m $M" "embed -m $M" "grad -m $M" "finetune-step -m $M --lr 0.1" "ihvp -m $M --train $B/ok.ms --depth 5"; do
  bad 1 "${REC}t2'.*label 7 out of range" "$B/label-range.ms" $r
done
bad 1 "${REC}t2'.*missing field 'label'" "$B/label-missing.ms" train --arch linear
bad 1 "at least 2 classes" "$B/one-class.ms" train --arch linear
bad 1 "${REC}t2'.*NaN" "$B/x-nan.ms" influence --ihvp "$B/ihvp.ms" -m "$M" --train /dev/stdin
bad 1 "${REC}t2'.*label 7 out of range" "$B/grads.ms" ihvp -m "$M" --train "$B/label-range.ms"
bad 1 "${REC}t2'.*NaN" "$B/grads.ms" ihvp -m "$M" --train "$B/x-nan.ms"
# the same inputs are accepted where NaN/Inf are explicitly allowed
bad 0 "" "$B/x-nan.ms" dump
bad 0 "" "$B/x-inf.ms" pick

# ---- duplicate ids where ids are joined or must be unique ----
for r in "eval -m $M" "embed -m $M" "grad -m $M" "train --arch linear" "finetune-step -m $M --lr 0.1" \
         "ihvp -m $M --train $B/ok.ms --depth 5"; do
  bad 1 "${REC}t1'.*duplicate" "$B/dupid.ms" $r
done
bad 1 "${REC}t1'.*duplicate" "$B/grads.ms" ihvp -m "$M" --train "$B/dupid.ms"
bad 1 "${REC}t1'.*duplicate" "$B/grads.ms" influence --ihvp "$B/ihvp.ms" -m "$M" --train "$B/dupid.ms"
bad 1 "${REC}t1'.*duplicate" "$B/scores.ms" rank --join "$B/dupid.ms"
bad 1 "${REC}q0'.*duplicate" "$B/grads.ms" influence --ihvp "$B/ihvp-dup.ms"
bad 1 "${REC}t1'.*duplicate" "$B/emb-dup.ms" knn-select --build "$T/dup.idx"
ok "knn-select --build leaves no index behind after an error" test ! -e "$T/dup.idx" -a ! -e "$T/dup.idx.ids"

# ---- other record kinds ----
$BIN/knn-select --build "$T/e.idx" < "$B/emb.ms" 2>/dev/null
bad 1 "${REC}t2'.*3 elements" "$B/emb-dim.ms" knn-select --build "$T/x.idx"
bad 1 "${REC}t2'.*NaN" "$B/emb-nan.ms" knn-select --build "$T/x.idx"
bad 1 "${REC}t1'.*missing field 'emb'" "$B/emb-missing.ms" knn-select --build "$T/x.idx"
bad 1 "${REC}t2'" "$B/emb-dim.ms" knn-select --index "$T/e.idx" -k 2
bad 1 "${REC}t2'.*NaN" "$B/emb-nan.ms" knn-select --index "$T/e.idx" -k 2
bad 1 "larger than the index" "$B/emb.ms" knn-select --index "$T/e.idx" -k 100
bad 1 "no id map|cannot open" "$B/emb.ms" knn-select --index "$M" -k 2
bad 1 "no training embeddings" "$B/empty.ms" knn-select --build "$T/x.idx"
ok "knn-select --build wrote nothing for bad input" test ! -e "$T/x.idx" -a ! -e "$T/x.idx.ids"
bad 1 "${REC}t2'.*17 values, expected 18" "$B/grads-dim.ms" influence --ihvp "$B/ihvp.ms"
bad 1 "${REC}t2'.*infinite" "$B/grads-inf.ms" influence --ihvp "$B/ihvp.ms"
bad 1 "${REC}t1'.*missing field 'grad'" "$B/grads-nograd.ms" influence --ihvp "$B/ihvp.ms"
bad 1 "${REC}q1'.*21 values" "$B/grads.ms" influence --ihvp "$B/ihvp-dim.ms"
bad 1 "${REC}q1'.*NaN" "$B/grads.ms" influence --ihvp "$B/ihvp-nan.ms"
bad 1 "${REC}q1'.*missing field 'ihvp'" "$B/grads.ms" influence --ihvp "$B/ihvp-missing.ms"
bad 1 "no ihvp records" "$B/grads.ms" influence --ihvp "$B/empty.ms"
bad 1 "${REC}q1'.*'nosuch'" "$B/grads.ms" influence --ihvp "$B/ihvp.ms" -m "$M" --train "$B/ok.ms" --candidates "$B/cand-unknown.ms"
bad 1 "${REC}q1'.*ids" "$B/grads.ms" influence --ihvp "$B/ihvp.ms" -m "$M" --train "$B/ok.ms" --candidates "$B/cand-ids-type.ms"
bad 1 "${REC}q1'.*ids" "$B/ok.ms" grad -m "$M" --only "$B/cand-ids-type.ms"
bad 1 "${REC}t2'.*17 values" "$B/grads-dim.ms" ihvp -m "$M" --train "$B/ok.ms" --depth 5
bad 1 "${REC}t2'.*infinite" "$B/grads-inf.ms" ihvp -m "$M" --train "$B/ok.ms" --depth 5
bad 1 "no training examples" "$B/grads.ms" ihvp -m "$M" --train "$B/empty.ms"
bad 1 "${REC}q1'.*2 values, expected 4" "$B/scores-len.ms" rank
bad 1 "${REC}q1'.*NaN" "$B/scores-nan.ms" rank
bad 1 "${REC}q1'.*not a string" "$B/scores-ids-type.ms" rank
bad 1 "${REC}q1'.*missing field 'scores'" "$B/scores-noscores.ms" rank
bad 1 "${REC}t0'.*missing field 'ids'" "$B/dupid.ms" rank

# ---- model files: every tool that loads one ----
mtools=("eval" "embed" "grad" "finetune-step --lr 0.1" "ihvp --train $B/ok.ms --depth 5"
        "influence --ihvp $B/ihvp.ms --train $B/ok.ms")
declare -A mre=([m-empty]="empty model" [m-two]="trailing data" [m-stream]="not a fastif model"
  [m-cut]="truncated" [m-format]="not a fastif model" [m-version]="version 2" [m-arch]="arch.type"
  [m-act]="activation" [m-mlp-as-linear]="layers.0.weight' has shape" [m-shape]="layers.0.weight' has shape"
  [m-missing]="missing parameter 'layers.0.bias'" [m-extra]="unexpected parameter 'layers.1.weight'"
  [m-nan]="layers.0.weight' has a non-finite" [m-f64]="layers.0.bias' has dtype f64" [m-huge]="parameters|too many"
  [m-big]="declares [0-9]+ parameters" [m-sizes-neg]="out of range" [m-one-class]="need at least 2"
  [m-bow-huge]="parameters|bow table" [m-params-list]="params")
for m in "${!mre[@]}"; do
  for t in "${mtools[@]}"; do read -r tool rest <<<"$t"; bad 1 "${mre[$m]}" "$B/ok.ms" $tool -m "$B/$m.model" $rest; done
done
# models whose architecture or size disagrees with the data
for t in eval embed grad "finetune-step --lr 0.1"; do
  read -r tool rest <<<"$t"
  bad 1 "${REC}t0'.*model is bow" "$B/ok.ms" $tool -m "$B/bow.model" $rest
  bad 1 "${REC}t0'.*5 values, expected 4" "$B/ok.ms" $tool -m "$B/d4.model" $rest
done
bad 1 "${REC}t0'.*model is bow" "$B/grads.ms" ihvp -m "$B/bow.model" --train "$B/ok.ms"
bad 1 "18 elements" "$B/grads.ms" influence --ihvp "$B/ihvp.ms" -m "$B/d4.model" --train "$B/ok.ms"
bad 1 "${REC}t0'.*dense \"x\"" "$B/ok.ms" train --arch bow:16,4

# ---- CSV ----
for f in csv-empty.csv csv-ragged.csv csv-quote.csv csv-number.csv csv-nan.csv csv-inf.csv csv-labelneg.csv \
         csv-nul.csv csv-badgz.csv.gz; do
  case $f in csv-empty.csv) re="empty";; *.gz) re="end of file|truncated";; *) re=":[0-9]+: ";; esac
  bad 1 "$re" /dev/null import-csv "$B/$f"
done
bad 1 "no column 'label'" /dev/null import-csv "$B/csv-nolabel.csv"
bad 1 "row longer than 100" /dev/null import-csv --max-row 100 "$B/csv-longrow.csv"
bad 1 "record 'r1'.*duplicate id" /dev/null import-csv --id id "$B/csv-dupid.csv"
bad 1 "empty id" /dev/null import-csv --id id "$B/csv-emptyid.csv"
bad 1 "whitespace" /dev/null import-csv --id id "$B/csv-spaceid.csv"
bad 1 "record 'row-2'.*not one of --classes" /dev/null import-csv --classes a "$B/ok.csv"
bad 1 "unterminated" /dev/null import-text --text review --label score "$B/text-quote.csv"
bad 1 "record 'row-1'.*UTF-8" /dev/null import-text --text review --label score "$B/text-badutf8.csv"
bad 1 "record 'row-1'.*empty label" /dev/null import-text --text review --label score "$B/text-nolabel.csv"
bad 1 "no header" "$B/csv-empty.csv" import-text --text review --label score

# ---- IDX ----
L=$B/idx-lab.idx
bad 1 "truncated|end" /dev/null import-idx --images "$B/idx-gzcut.idx.gz" --labels "$L"
bad 1 "truncated header" /dev/null import-idx --images "$B/idx-hdr.idx" --labels "$L"
bad 1 "limit" /dev/null import-idx --images "$B/idx-huge.idx" --labels "$L"
bad 1 "100000000 images" /dev/null import-idx --images "$B/idx-big.idx" --labels "$L"
bad 1 "data after" /dev/null import-idx --images "$B/idx-long.idx" --labels "$L"
bad 1 "bad magic" /dev/null import-idx --images "$B/idx-magic.idx" --labels "$L"
bad 1 "record 'img-2'.*truncated" /dev/null import-idx --images "$B/idx-short.idx" --labels "$L"
bad 1 "not supported" /dev/null import-idx --images "$B/idx-type.idx" --labels "$L"
bad 1 "dimension 1 is 0" /dev/null import-idx --images "$B/idx-zero.idx" --labels "$L"
bad 1 "3 images but .* 2 labels" /dev/null import-idx --images "$B/idx-img.idx" --labels "$B/idx-lab-count.idx"
bad 1 "record 'img-2'.*label 200" /dev/null import-idx --images "$B/idx-img.idx" --labels "$B/idx-lab-range.idx" --fashion
bad 1 "dimensions" /dev/null import-idx --images "$B/idx-img.idx" --labels "$B/idx-img.idx"

# ---- unknown options and bad option values: exit 2 for every tool ----
for t in import-csv import-idx import-text train eval embed grad knn-select ihvp influence rank finetune-step dump pick; do
  bad 2 "nosuch|unknown|unrecognized" /dev/null $t --nosuch-option
done
bad 2 "--epochs" "$B/ok.ms" train --arch linear --epochs -1
bad 2 "--lr" "$B/ok.ms" finetune-step -m "$M" --lr nan
bad 2 "--top" "$B/scores.ms" rank -m 0
bad 2 "nosuch" "$B/ok.ms" grad -m "$M" --params nosuch
bad 2 "-k" "$B/emb.ms" knn-select --index "$T/e.idx" -k 0
bad 2 "layer size" "$B/ok.ms" train --arch mlp:99999999999

# ---- issue 11: directories, a closed or doubled standard input, wrong kinds of file ----
D=$T/adir; mkdir "$D"
# a directory given for any file: exit 1, naming it
bad 1 "$D" "$B/ok.ms" pick --ids "$D"
bad 1 "$D" "$B/ok.ms" pick "$D"
bad 1 "$D" "$B/ok.ms" dump "$D"
bad 1 "$D" /dev/null dump --reverse "$D"
bad 1 "$D" "$B/ok.ms" eval -m "$D"
bad 1 "$D" "$B/ok.ms" grad -m "$M" --only "$D"
bad 1 "$D" "$B/grads.ms" ihvp -m "$M" --train "$D"
bad 1 "$D" "$B/grads.ms" influence --ihvp "$D"
bad 1 "$D" /dev/null influence --ihvp "$B/ihvp.ms" -m "$M" --train "$D"
bad 1 "$D" "$B/scores.ms" rank --join "$D"
bad 1 "$D" "$B/emb.ms" knn-select --index "$D" -k 1
bad 1 "$D" /dev/null import-csv "$D"
bad 1 "$D" /dev/null import-idx --images "$D" --labels "$B/idx-lab.idx"
bad 1 "$D" "$B/ok.ms" pick --ids /dev/null "$D"
# a closed standard input (<&-) is an error, not an empty stream: the
# descriptor the model file would take is held
closed() { # REGEX TOOL ARGS...
  local re=$1 tool=$2; shift 2
  timeout 60 "$BIN/$tool" "$@" <&- >"$T/.bad.out" 2>"$T/.bad.err"; local rc=$?
  is "$rc:$(grep -c ': error: ' "$T/.bad.err"):$(grep -Ec "^$tool: error: .*($re)" "$T/.bad.err")" "1:1:1" "$tool $* <&-: exit 1, one error line"
}
for r in "eval -m $M" "embed -m $M" "grad -m $M" "train --arch linear" "finetune-step -m $M --lr 0.1" \
         "ihvp -m $M --train $B/ok.ms --depth 5" "influence --ihvp $B/ihvp.ms" "rank" "pick" "dump" "dump --reverse" \
         "knn-select --build $T/closed.idx" "pick --ids -"; do
  closed "standard input is closed" $r
done
closed "standard input|Bad file descriptor" import-csv
ok "knn-select --build <&- wrote no index" test ! -e "$T/closed.idx"
# '-' is standard input wherever a file is taken, for one input only
printf 't3\nt1\n' > "$T/ids.txt"
"$BIN/pick" --ids - "$B/ok.ms" < "$T/ids.txt" > "$T/picked.ms" 2>/dev/null
is "$?:$($PY -c 'import sys, msgpack; print(*[r["id"] for r in msgpack.Unpacker(open(sys.argv[1], "rb"))])' "$T/picked.ms")" \
  "0:t1 t3" "pick --ids - FILE reads the ids from standard input"
"$BIN/influence" --ihvp - -m "$M" --train "$B/ok.ms" < "$B/ihvp.ms" > "$T/sc-stdin.ms" 2>/dev/null
"$BIN/influence" --ihvp "$B/ihvp.ms" -m "$M" --train "$B/ok.ms" > "$T/sc-file.ms" 2>/dev/null
ok "influence --ihvp - reads the ihvp records from standard input" cmp "$T/sc-stdin.ms" "$T/sc-file.ms"
"$BIN/import-idx" --images - --labels "$B/idx-lab.idx" < "$B/idx-img.idx" > "$T/idx-stdin.ms" 2>/dev/null
"$BIN/import-idx" --images "$B/idx-img.idx" --labels "$B/idx-lab.idx" > "$T/idx-file.ms" 2>/dev/null
ok "import-idx --images - reads the images from standard input" cmp "$T/idx-stdin.ms" "$T/idx-file.ms"
bad 2 "standard input" "$B/idx-img.idx" import-idx --images - --labels -
bad 2 "standard input" "$B/ok.ms" pick --ids -
bad 2 "standard input" "$B/ok.ms" pick - -
bad 2 "standard input" "$M" eval -m -
"$BIN/ihvp" -m "$M" --train - < "$B/ok.ms" > /dev/null 2> "$T/.bad.err"
is "$?:$(grep -c "^ihvp: standard input ('-') can feed only one input" "$T/.bad.err")" "2:1" "ihvp --train - with gradients on standard input: exit 2"
bad 2 "standard input" "$B/ihvp.ms" influence --ihvp -
bad 2 "standard input" "$B/scores.ms" rank --join -
bad 2 "standard input" "$B/emb.ms" knn-select --index - -k 1
# the wrong kind of file: say what it is and which command makes the right one
declare -A wk_stream=([wk-zip.pt]="zip archive.*examples/torch_export.py" [wk-pickle.pt]="Python pickle.*examples/torch_export.py"
  [wk.csv]="CSV text.*import-csv" [wk.csv.gz]="gzip-compressed.*import-csv" [wk.jsonl]="JSON lines.*dump --reverse"
  [wk-model.jsonl]="model in JSON.*dump --single --reverse" [wk.npy]="numpy.*fastif_stream.py"
  [ok.model]="fastif model file, not a record stream.*--model")
for f in "${!wk_stream[@]}"; do
  bad 1 "${wk_stream[$f]}" "$B/$f" pick
  bad 1 "${wk_stream[$f]}" "$B/$f" eval -m "$M"
  bad 1 "${wk_stream[$f]}" "$B/scores.ms" rank --join "$B/$f"
done
declare -A wk_model=([wk-zip.pt]="zip archive.*examples/torch_export.py" [wk-pickle.pt]="Python pickle.*examples/torch_export.py"
  [wk.csv]="CSV text.*train" [wk.csv.gz]="gzip-compressed" [wk.jsonl]="JSON lines.*train"
  [wk-model.jsonl]="model in JSON.*dump --single --reverse" [wk.npy]="numpy.*torch_export.py"
  [ok.ms]="record stream \(first record 't0'\), not a model file.*train" [m-stream.model]="record stream.*not a model file.*train")
for f in "${!wk_model[@]}"; do
  bad 1 "${wk_model[$f]}" "$B/ok.ms" eval -m "$B/$f"
  bad 1 "${wk_model[$f]}" "$B/grads.ms" influence --ihvp "$B/ihvp.ms" -m "$B/$f" --train "$B/ok.ms"
done
bad 1 "record stream.*not a model file" "$B/ok.ms" dump --single

# ---- -o outputs: nothing appears after an error ----
bad 1 "${REC}t2'.*NaN" "$B/x-nan.ms" train --arch linear -o "$T/m.model"
ok "train -o: no model file after an error" test ! -e "$T/m.model"
bad 1 "${REC}t2'" "$B/x-dim.ms" finetune-step -m "$M" --lr 0.1 -o "$T/f.model"
ok "finetune-step -o: no model file after an error" test ! -e "$T/f.model"
is "$(ls -A "$T" | grep -c '\.tmp\|~' || true)" 0 "no temp files left in the output directory"

# ---- computed values (issue 11: checks of what the tools compute, not only
# of what they read; corpus in make.py's computed()) ----
NF="not finite|is NaN|is infinite"
W=$B/m-big-w.model   # finite weights of 3e38: every forward pass overflows
for o in lbfgs sgd adam; do
  bad 1 "${REC}t2'.*($NF)" "$B/x-big.ms" train --arch linear --optim $o -o "$T/nf.model"
done
ok "train: no model saved after a non-finite objective" test ! -e "$T/nf.model"
bad 1 "${REC}t0'.*probabilities are not finite" "$B/ok.ms" eval -m "$W"
bad 1 "${REC}t1'.*computed field 'grad'.*NaN" "$B/ok.ms" grad -m "$W"
bad 1 "${REC}t1'.*computed field 'delta.layers.0'.*NaN" "$B/ok.ms" grad -m "$W" --factored
bad 1 "${REC}t1'.*loss gradient is not finite" "$B/ok.ms" ihvp -m "$W" --train "$B/ok.ms" --method lissa --scale 1 --depth 5
# the default (auto: exact here) chooses its ridge from the Hessian once the
# first group is read: a record whose gradient overflows is named first
bad 1 "${REC}t1'.*loss gradient is not finite" "$B/ok.ms" ihvp -m "$W" --train "$B/ok.ms"
bad 1 "damping auto: the Hessian has non-finite entries" "$B/grads.ms" ihvp -m "$W" --train "$B/ok.ms"
bad 1 "${REC}t0'.*Hessian-vector product of a training batch is not finite" "$B/grads.ms" ihvp -m "$W" --train "$B/ok.ms" --method lissa --scale 1 --depth 5
bad 1 "Hessian-vector product .* not finite" "$B/grads.ms" ihvp -m "$W" --train "$B/ok.ms" --method cg
bad 1 "Hessian-vector product is not finite" "$B/grads.ms" ihvp -m "$W" --train "$B/ok.ms" --scale 1 --method cg
bad 1 "Hessian has non-finite entries" "$B/grads.ms" ihvp -m "$W" --train "$B/ok.ms" --scale 1 --method exact
bad 1 "${REC}t0'.*computed field 'hvp'.*NaN" "$B/grads.ms" ihvp -m "$W" --train "$B/ok.ms" --method hvp
bad 1 "${REC}t1'.*not finite at step 1" "$B/ok.ms" finetune-step -m "$W" --lr 0.1
bad 1 "${REC}t1'.*influence score on test 'q0' is NaN" /dev/null influence --ihvp "$B/ihvp.ms" -m "$W" --train "$B/ok.ms"
bad 1 "${REC}t2'.*influence score on test 'q0' is NaN" /dev/null influence --ihvp "$B/ihvp.ms" -m "$M" --train "$B/x-big.ms"
# LiSSA divergence (issue 11 item 4): the batch Hessians' top eigenvalue is 6.4 > 2 x scale
bad 1 "${REC}t0'.*LiSSA diverged in repeat 3.*--scale.*--damping" "$B/grads.ms" ihvp -m "$M" --train "$B/ok.ms" --method lissa --scale 2.5 --depth 960 --repeat-offset 3 --seed 0
# label numbering (item 11): a label_name that contradicts the model's classes
N=$B/named.model
for r in "eval -m $N" "embed -m $N" "grad -m $N" "finetune-step -m $N --lr 0.1" "ihvp -m $N --train $B/named.ms --depth 5"; do
  bad 1 "${REC}t0'.*label 0 is named 'b' here, but the model's class 0 is 'a' and 'b' is its class 1" "$B/renamed.ms" $r
done
bad 1 "${REC}t0'.*label 0 is named 'b'" "$B/grads.ms" ihvp -m "$N" --train "$B/renamed.ms" --depth 5
bad 1 "${REC}t0'.*label 0 is named 'b'" /dev/null influence --ihvp "$B/ihvp.ms" -m "$N" --train "$B/renamed.ms"
bad 1 "${REC}t1'.*no class of the model is 'zzz'" "$B/unnamed-class.ms" eval -m "$N"
bad 0 "" "$B/named.ms" eval -m "$N"
bad 1 "${REC}t1'.*named \"a\", but so is label 0" "$B/twonames.ms" train --arch linear
# gradient records' provenance (item 10): influence checks them as ihvp does
bad 1 "${REC}t1'.*under the pred label.*grad --label gold" "$B/grads-pred.ms" influence --ihvp "$B/ihvp.ms"
bad 1 "${REC}t0'.*over parameters 'layers.0.weight,layers.0.bias', but --params selects 'layers.1'" "$B/grads.ms" influence --ihvp "$B/ihvp-l1.ms"
# nothing received where something must come (item 12), missing candidates (item 14)
bad 1 "no gradient records" "$B/empty.ms" influence --ihvp "$B/ihvp.ms"
bad 1 "no input records" "$B/empty.ms" ihvp -m "$M" --train "$B/ok.ms" --depth 5
bad 1 "no ihvp records" "$B/empty.ms" ihvp --combine
bad 1 "no scores records" "$B/empty.ms" rank
bad 1 "no training examples" /dev/null influence --ihvp "$B/ihvp.ms" -m "$M" --train "$B/empty.ms"
bad 1 "no candidates record for 1 of the 2 ihvp records.*'q1'" /dev/null influence --ihvp "$B/ihvp.ms" -m "$M" --train "$B/ok.ms" --candidates "$B/cand-one.ms"
bad 1 "no candidates record for 2 of the 2" /dev/null influence --ihvp "$B/ihvp.ms" -m "$M" --train "$B/ok.ms" --candidates "$B/empty.ms"
for t in "eval -m $M" "embed -m $M" "grad -m $M" dump pick; do bad 0 "" "$B/empty.ms" $t; done   # filters: empty in, empty out
# a repeated CSV column name (item 9)
bad 1 "column name 'label' appears twice in the header \(columns 2 and 3\)" /dev/null import-csv "$B/csv-duphdr.csv"

done_testing
