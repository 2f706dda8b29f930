#!/bin/bash
# Everyday use: `fastif explain` prints the FastIF graph's answer (in the
# checkout and installed by `make install`, with man pages and bash
# completion), its defaults are the graph's, every tool and graph has one
# default seed, summaries say "1 record", and progress on a terminal:
# shown for a long stage, not off a terminal unless asked for, with
# the time left when the total is known, and the stages of one pipeline
# never write over each other.
. "$(dirname "$0")/lib.sh"
MK="$TOP/pipelines/fastif.mk"
xz -dc "$DATA/fine-foods.csv.xz" > "$T/ff.csv"
import-text --text review --label score --classes great,other --where split=train "$T/ff.csv" 2>/dev/null | pick --head 400 > "$T/train.mp" 2>/dev/null
import-text --text review --label score --classes great,other --where split=test "$T/ff.csv" 2>/dev/null | pick --head 3 > "$T/query.mp" 2>/dev/null
knobs=(--arch bow:4096,8 --epochs 3 --lr 0.02 -k 50 -J 200 -m 3)
vars=(ARCH=bow:4096,8 EPOCHS=3 LR=0.02 K=50 J=200 M=3)

# ---- fastif explain = the graph ----
make -s -f "$MK" BIN="$BIN" OUT="$T/graph" TRAIN="$T/train.mp" QUERY="$T/query.mp" "${vars[@]}" show > "$T/graph.txt" 2>/dev/null
like "$(head -1 "$T/graph.txt")" "^test row-" "the graph prints an answer"
mkdir -p "$T/tmp"
TMPDIR=$T/tmp fastif explain --train "$T/train.mp" --query "$T/query.mp" "${knobs[@]}" > "$T/explain.txt" 2> "$T/explain.err"
is "$?" 0 "fastif explain exits 0"
ok "fastif explain prints the graph's answer" cmp "$T/graph.txt" "$T/explain.txt"
is "$(ls -A "$T/tmp")" "" "fastif explain removes its temporary directory"
fastif explain --train "$T/train.mp" --query "$T/query.mp" "${knobs[@]}" --out "$T/kept" > "$T/kept.txt" 2>/dev/null
ok "with --out it keeps the graph's files" test -s "$T/kept/ranked.mp" -a -s "$T/kept/model"
is "$(make -s -f "$MK" BIN="$BIN" OUT="$T/kept" TRAIN="$T/train.mp" QUERY="$T/query.mp" "${vars[@]}" -n ranked)" "" \
  "and they are the graph's own: nothing left to remake with the same knobs"
run fastif explain --query "$T/query.mp"
is "$rc" 2 "fastif explain without --train is a usage error"
like "$err" "^fastif explain: missing required option --train" "... naming the option"
run fastif explain --train "$T/train.mp" --query "$T/nosuch.mp" "${knobs[@]}"
is "$rc" 1 "a graph that fails exits 1"
like "$err" "nosuch.mp" "... and says what failed"

# Its defaults are the graph's: one source, read from fastif.mk itself.
mkvar() { make -s -f "$MK" --no-print-directory --eval 'print-%: ; @printf "%s\n" "$($*)"' "print-$1"; }
bad=""
while read -r opt var; do
  def=$(fastif explain --help | grep -E -- "^ +(-[a-zA-Z], )?--$opt " | sed -nE 's/.*\(default: ([^)]*)\)$/\1/p')
  [ "$def" = none ] && def=""
  [ "$def" = "$(mkvar "$var")" ] || bad="$bad --$opt=$def/$var=$(mkvar "$var")"
done <<'EOF'
arch ARCH
epochs EPOCHS
lr LR
l2 L2
train-opts TRAIN_OPTS
seed SEED
params PARAMS
label LABEL
k K
index-spec INDEX_SPEC
method METHOD
depth J
batch B
repeats T
scale SCALE
damping DAMPING
threads THREADS
top M
EOF
is "$bad" "" "fastif explain's defaults are pipelines/fastif.mk's"

# ---- one default seed: every tool and graph ----
seeds=$(for t in train ihvp finetune-step; do "$BIN/$t" --help | sed -nE 's/^ +-s, --seed INT .*\(default: ([0-9]+)\)$/\1/p'; done
        fastif explain --help | sed -nE 's/^ +-s, --seed INT .*\(default: ([0-9]+)\)$/\1/p'
        mkvar SEED
        make -s -f "$TOP/pipelines/demo.mk" --no-print-directory --eval 'print-%: ; @echo $($*)' print-SEED)
is "$(printf '%s\n' "$seeds" | sort -u | tr '\n' ' ')" "1 " "train, ihvp, finetune-step, fastif explain, fastif.mk and the demo default to seed 1"
is "$(printf '%s\n' "$seeds" | wc -l)" 6 "... all six found"

# ---- summaries ----
pick --head 1 "$T/query.mp" 2> "$T/one.err" > /dev/null
is "$(cat "$T/one.err")" "pick: done 1 record" "one record is '1 record'"
pick --head 2 "$T/query.mp" 2> "$T/two.err" > /dev/null
is "$(cat "$T/two.err")" "pick: done 2 records" "two are '2 records'"
like "$(fastif --version)" "^fastif $(cat "$TOP/VERSION")( |$)" "fastif --version is the VERSION file's"
like "$(ihvp --version)" "^ihvp \(fastif\) $(cat "$TOP/VERSION")( |$)" "so is every tool's"

# ---- installed: the front door finds its graph; man pages, completion ----
san=0; case ${FASTIF_BUILD:-build/opt} in *san*) san=1 ;; esac
if make -s --no-print-directory -C "$TOP" install SANITIZE=$san DESTDIR="$T/inst" PREFIX=/usr > "$T/install.log" 2>&1; then
  _report 0 "make install DESTDIR=... PREFIX=/usr"
else
  _report 1 "make install DESTDIR=... PREFIX=/usr"; sed 's/^/#   /' "$T/install.log" | tail -n 5
fi
I=$T/inst/usr
PATH=/usr/bin:/bin "$I/bin/fastif" explain --train "$T/train.mp" --query "$T/query.mp" "${knobs[@]}" > "$T/inst.txt" 2>/dev/null
ok "the installed fastif explain runs the installed graph and prints the same answer" cmp "$T/graph.txt" "$T/inst.txt"
nomans="" nocompl=""
for src in "$TOP"/bin/*.c; do
  t=$(basename "$src" .c)
  p=fastif-$t; [ "$t" = fastif ] && p=fastif
  [ -s "$I/share/man/man1/$p.1" ] || nomans="$nomans $p"
  [ -s "$I/share/bash-completion/completions/$t" ] || nocompl="$nocompl $t"
done
[ -s "$I/share/man/man1/fastif-explain.1" ] || nomans="$nomans fastif-explain"
is "$nomans" "" "every tool's man page is installed (man fastif-TOOL)"
is "$nocompl" "" "every tool's bash completion is installed"
like "$(MANPATH=$I/share/man man -P cat fastif-influence 2>/dev/null | head -n 5)" "influence" "man fastif-influence finds the page"

# ---- progress ----
# term.py CMD: CMD's terminal output, bytes as they came (CR, ESC and all).
cat > "$T/term.py" <<'PY'
import os, pty, select, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp("bash", ["bash", "-c", sys.argv[1]])
out = b""
while True:
    try:
        r, _, _ = select.select([fd], [], [], 120)
        d = os.read(fd, 65536) if r else b""
    except OSError:
        d = b""
    if not d:
        break
    out += d
os.waitpid(pid, 0)
sys.stdout.buffer.write(out)
PY
# A slow input: the stages wait about 3 s in the middle, on a terminal.
slow="{ cat '$T/train.mp'; sleep 3; cat '$T/train.mp'; }"
$PY "$T/term.py" "$slow | pick | pick --keep label > '$T/p.out'" > "$T/pty.raw"
$PY - "$T/pty.raw" <<'PY' > "$T/pty.check"
import re, sys
raw = open(sys.argv[1], "rb").read().decode()
# Every message starts at column 0: at the start, after a newline, or after
# the CR + erase-line that clears a live progress line.
starts = [m.start() for m in re.finditer(r"pick: ", raw)]
bad = [s for s in starts if not (s == 0 or raw[s - 1] == "\n" or raw[:s].endswith("\r\x1b[K"))]
live = re.findall(r"\r\x1b\[K(pick: [^\r\n]*)(?=\r)", raw)   # rewritten in place, no newline
print("misplaced", len(bad))
print("live", len(live) > 0)
print("clock", any(re.search(r"\[[2-9] s\]", l) for l in live))
print("lines", raw.count("pick: done 800 records"))
PY
is "$(sed -n 1p "$T/pty.check")" "misplaced 0" "two stages on one terminal: every line starts at column 0 (none overwrites the other)"
is "$(sed -n 2p "$T/pty.check")" "live True" "the last stage draws a live line"
is "$(sed -n 3p "$T/pty.check")" "clock True" "waiting on its input, it still shows the time going by"
is "$(sed -n 4p "$T/pty.check")" "lines 2" "both summaries are printed whole"
quick="{ cat '$T/train.mp'; sleep 1.5; cat '$T/train.mp'; }"   # long enough for a line off a terminal
$PY "$T/term.py" "$quick | pick --no-progress | pick --no-progress > '$T/p.out'" > "$T/pty.raw"
plain() { sed 's/\x1b\[K//g' "$1" | tr -d '\r'; }   # the text, less the line clears
is "$(plain "$T/pty.raw")" "pick: done 800 records"$'\n'"pick: done 800 records" "--no-progress: no progress"
err=$(eval "$quick" | pick 2>&1 > /dev/null)
is "$err" "pick: done 800 records" "off a terminal: no progress by default"
err=$(eval "$quick" | pick --progress 2>&1 > /dev/null)
like "$err" "^pick: [0-9]+ records \[[0-9]+ s\]"$'\n'"pick: done 800 records$" "--progress off a terminal: whole lines, no escapes"
# The time left, where the total is known: import-idx knows the image count
# from the header; its input stalls 2 s after the first MB.
F=/usr/share/datasets/fashion-mnist
$PY "$T/term.py" "import-idx --images <(head -c 1000000 $F/train-images-idx3-ubyte.gz; sleep 2; tail -c +1000001 $F/train-images-idx3-ubyte.gz 2>/dev/null) --labels $F/train-labels-idx1-ubyte.gz --limit 5000 > '$T/fm.mp'" > "$T/pty.raw"
like "$(tr '\r' '\n' < "$T/pty.raw" | grep -m1 ' left ')" "import-idx: [1-9][0-9]*/5000 images \([0-9]+%\), .*/s, .* left \[[0-9]+ s\]" \
  "a counted stage shows done/total, the rate and the time left"
done_testing
