# tests/lib.sh - TAP helpers for shell tests. Source it from tests/*.t.
# Provides: ok, not_ok, is, run (captures $out $err $rc), tap_lines, need_torch_fmnist, done_testing,
# $BIN (the tools), $DATA (bundled data), $T (a fresh scratch directory),
# $PY (/usr/bin/python3 with Debian's numpy, msgpack and torch; python/ and examples/ on PYTHONPATH).
set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
export BIN=${FASTIF_BIN:-$TOP/bin}   # make check SANITIZE=1 points this at build/san/bin
DATA=$TOP/examples/data
PY=/usr/bin/python3
export PATH="$BIN:$PATH"
export PYTHONPATH="$TOP/python:$TOP/examples${PYTHONPATH:+:$PYTHONPATH}"
_n=0; _failed=0
T=$(mktemp -d "${TMPDIR:-/tmp}/fastif-test.XXXXXX")
[ -n "${KEEP_T:-}" ] || trap 'rm -rf "$T"' EXIT
_report() { # cond desc
  _n=$((_n + 1))
  if [ "$1" = 0 ]; then echo "ok $_n - $2"; else echo "not ok $_n - $2"; _failed=$((_failed + 1)); fi
}
ok() { # desc command... : passes when the command exits 0
  local d=$1; shift
  if "$@" >"$T/.ok.out" 2>&1; then _report 0 "$d"; else _report 1 "$d"; sed 's/^/# /' "$T/.ok.out" | head -n 20; fi
}
not_ok() { # desc command... : passes when the command exits non-zero
  local d=$1; shift
  if "$@" >/dev/null 2>&1; then _report 1 "$d"; else _report 0 "$d"; fi
}
is() { # got want desc
  if [ "$1" = "$2" ]; then _report 0 "$3"; else _report 1 "$3"; echo "#   got: '$1'"; echo "#  want: '$2'"; fi
}
like() { # got regex desc
  if printf '%s' "$1" | grep -Eq -- "$2"; then _report 0 "$3"; else _report 1 "$3"; echo "#   got: '$1'"; echo "#  want match: '$2'"; fi
}
run() { # command... : sets $out (stdout), $err (stderr), $rc
  "$@" >"$T/.run.out" 2>"$T/.run.err"; rc=$?
  # tr: binary stdout (a stream) would make bash warn about the NUL bytes it drops
  out=$(tr -d '\000' <"$T/.run.out"); err=$(tr -d '\000' <"$T/.run.err")
}
diag() { echo "# $*"; }
# Python checks print "ok - ..." / "not ok - ..." lines; count them here.
tap_lines() { # file count: report each line, then that all count checks ran
  local line n=0
  while IFS= read -r line; do
    case $line in
      "ok - "*) _report 0 "${line#ok - }"; n=$((n + 1)) ;;
      "not ok - "*) _report 1 "${line#not ok - }"; n=$((n + 1)) ;;
    esac
  done < "$1"
  is "$n" "$2" "all $2 checks of $(basename "$1" .out) ran"
  [ "$n" = "$2" ] || grep -v '^ok - \|^not ok - ' "$1" | tail -5 | sed 's/^/# /'
}
need_torch_fmnist() { # skip the file unless PyTorch (with functorch) and Fashion-MNIST are installed; sets FMNIST
  if ! $PY -c 'import torch, functorch' 2>/dev/null; then
    echo "1..0 # SKIP PyTorch with functorch is not installed (Debian python3-torch)"; exit 0
  fi
  FMNIST=/usr/share/datasets/fashion-mnist
  if [ ! -e "$FMNIST/train-images-idx3-ubyte.gz" ]; then
    echo "1..0 # SKIP Fashion-MNIST is not installed (Debian dataset-fashion-mnist)"; exit 0
  fi
}
write_cands() { # TRAIN TEST N: a candidates stream on stdout, 40 of the first N training ids per test record, out of order
  $PY - "$@" <<'PY'
import msgpack, sys
tr = [r['id'] for r in msgpack.Unpacker(open(sys.argv[1], 'rb'), raw=False)]
te = [r['id'] for r in msgpack.Unpacker(open(sys.argv[2], 'rb'), raw=False)]
n = int(sys.argv[3])
sys.stdout.buffer.write(b''.join(msgpack.packb({'id': t, 'ids': [tr[(k * 397 + 11 * i) % n] for k in range(40)],
                                 'dist': {'dtype': 'f32', 'shape': [0], 'data': b''}}) for i, t in enumerate(te)))
PY
}
done_testing() { echo "1..$_n"; [ "$_failed" = 0 ]; }
