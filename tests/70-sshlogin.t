#!/usr/bin/env bash
# 70-sshlogin.t - the shard fan-out (pipelines/fanout-influence.sh) through
# GNU parallel --sshlogin: a throwaway sshd on 127.0.0.1 stands in for a
# second host; the merged scores must equal a local single-process run.
# Needs root (sshd), openssh-server and rsync (parallel's file transfer);
# installs them with apt-get if missing, else skips.
. "$(dirname "$0")/lib.sh"
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
[ "$(id -u)" = 0 ] || skip_all "not root (needs to run sshd)"
need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh > /dev/null || need+=(openssh-client)
command -v rsync > /dev/null || need+=(rsync)
command -v parallel > /dev/null || need+=(parallel)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq \
    --no-install-recommends "${need[@]}" > "$T/apt.log" 2>&1 ||
    skip_all "cannot install ${need[*]}"
fi
[ -x /usr/sbin/sshd ] && command -v rsync > /dev/null || skip_all "sshd or rsync missing"

# ---- a private sshd ----------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -f "$T/hostkey" -C fastif-test-host || skip_all "ssh-keygen failed"
ssh-keygen -q -t ed25519 -N '' -f "$T/id" -C fastif-test-client || skip_all "ssh-keygen failed"
cp "$T/id.pub" "$T/authorized_keys"
mkdir -p /run/sshd # privilege separation directory
port=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$T/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $T/hostkey
AuthorizedKeysFile $T/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
PidFile $T/sshd.pid
MaxStartups 100
EOF
/usr/sbin/sshd -D -e -f "$T/sshd_config" 2> "$T/sshd.log" &
sshd_pid=$!
trap 'kill "$sshd_pid" 2>/dev/null; wait "$sshd_pid" 2>/dev/null; rm -rf "$T"' EXIT
SSH="ssh -p $port -i $T/id -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR"
up=0
for _ in $(seq 50); do
  if $SSH root@127.0.0.1 true 2> /dev/null; then up=1; break; fi
  kill -0 "$sshd_pid" 2> /dev/null || break
  sleep 0.1
done
[ $up = 1 ] || skip_all "sshd did not start: $(head -c 300 "$T/sshd.log" | tr '\n' ' ')"

# ---- data: a small mlp on 600 Fashion-MNIST images, 3 test points ------
F=/usr/share/datasets/fashion-mnist
[ -r $F/train-images-idx3-ubyte.gz ] || skip_all "Fashion-MNIST (dataset-fashion-mnist) missing"
import-idx --images $F/train-images-idx3-ubyte.gz --labels $F/train-labels-idx1-ubyte.gz \
  --limit 600 > "$T/train.mp" 2> /dev/null
import-idx --images $F/t10k-images-idx3-ubyte.gz --labels $F/t10k-labels-idx1-ubyte.gz \
  --prefix te- --limit 3 > "$T/test.mp" 2> /dev/null
train --arch mlp:16 --epochs 2 -o "$T/model" < "$T/train.mp" 2> /dev/null
grad --model "$T/model" < "$T/test.mp" 2> /dev/null |
  ihvp --model "$T/model" --train "$T/train.mp" --depth 50 > "$T/ihvp.mp" 2> /dev/null
ok "inputs made" test -s "$T/ihvp.mp"

# the reference: one local process over the whole training set, with the
# fan-out's GEMM batch (-b) so every batch holds the same examples
influence --batch 50 --ihvp "$T/ihvp.mp" --model "$T/model" --train "$T/train.mp" > "$T/single.mp" 2> /dev/null
ok "single-process influence" test -s "$T/single.mp"
rank -m 600 < "$T/single.mp" > "$T/single.ranked" 2> /dev/null
# same_as DIR: the fan-out's shard records, merged per test id, are bitwise
# the single run's scores (same ids, same order), and rank agrees byte for byte
same_as() {
  rank -m 600 < "$1/scores.mp" > "$1/ranked" 2> /dev/null &&
    cmp "$1/ranked" "$T/single.ranked" &&
    $PY - "$1/scores.mp" "$T/single.mp" <<'PYEOF'
import sys, msgpack
def merged(p):
    out = {}
    for r in msgpack.Unpacker(open(p, "rb"), raw=False):
        ids, sc = out.setdefault(r["id"], ([], []))
        ids += r["ids"]; sc.append(r["scores"]["data"])
    return {k: (ids, b"".join(sc)) for k, (ids, sc) in out.items()}
a, b = merged(sys.argv[1]), merged(sys.argv[2])
sys.exit(0 if a == b and len(a) == 3 and len(b["te-0"][0]) == 600 else 1)
PYEOF
}

FAN=$TOP/pipelines/fanout-influence.sh
run "$FAN" -m "$T/model" -t "$T/train.mp" -i "$T/ihvp.mp" -o "$T/local" -s 3 -j 2 -b 50
is "$rc" 0 "local fan-out exits 0"
ok "local fan-out = single process" same_as "$T/local"

# through sshd: two job slots on the "remote host"; its PATH is ours
run "$FAN" -m "$T/model" -t "$T/train.mp" -i "$T/ihvp.mp" -o "$T/remote" -s 4 -j 2 -b 50 \
  -S "2/$SSH root@127.0.0.1"
is "$rc" 0 "--sshlogin fan-out exits 0"
[ "$rc" = 0 ] || { printf '%s\n' "$err" | head -n 20 | sed 's/^/# /'; sed 's/^/# /' "$T/remote/joblog" 2> /dev/null; }
ok "--sshlogin fan-out = single process" same_as "$T/remote"
# every job really ran through ssh: the joblog names the sshlogin per job
n=$(awk -F '\t' 'NR > 1 && $2 ~ /-p '"$port"' .*127\.0\.0\.1$/' "$T/remote/joblog" 2> /dev/null | wc -l)
is "$n" 4 "all 4 shards ran on the ssh host (joblog)"
ok "the remote jobs' logs came back" test -s "$T/remote/shard-3.log"
like "$(cat "$T/remote/shard-0.log")" "influence: done 3 records" "shard log is influence's"
# with no OPENBLAS_* / GOTO_* / OMP_* variable set (the usual case) there is
# nothing to pass on, and that is no error (the remote kernel may differ, so
# only the records are compared, not their bits)
unset_blas=$(compgen -e | sed -nE 's/^((OPENBLAS|GOTO|OMP)_.*)$/-u \1/p')
run env $unset_blas "$FAN" -m "$T/model" -t "$T/train.mp" -i "$T/ihvp.mp" -o "$T/noenv" -s 2 -j 2 -b 50 \
  -S "2/$SSH root@127.0.0.1"
is "$rc" 0 "--sshlogin fan-out without OpenBLAS/OpenMP variables exits 0"
like "$(dump < "$T/noenv/scores.mp" 2> /dev/null | grep -c '"id"')" "^6$" "... and writes 2 shards x 3 test ids"
grad --model "$T/model" < "$T/test.mp" > "$T/test.g" 2> /dev/null
run env $unset_blas "$TOP/pipelines/fanout-ihvp.sh" -m "$T/model" -t "$T/train.mp" -o "$T/noenv.ihvp" -T 2 -j 2 \
  -S "2/$SSH root@127.0.0.1" -- --depth 20 < "$T/test.g"
is "$rc" 0 "fanout-ihvp.sh --sshlogin without them exits 0"
like "$(dump < "$T/noenv.ihvp" 2> /dev/null | grep -c '"sum_of":2')" "^3$" "... and combines 2 repeats for each of the 3 test ids"

# a failing remote job fails the fan-out (bad influence option). parallel
# --halt kills the jobs before --cleanup, so the run's private remote
# workdir (~/.fastif-fanout-HOST-PID) stays behind: remove the new one.
home=$(getent passwd root | cut -d: -f6)
before=$(ls -d "$home"/.fastif-fanout-* 2> /dev/null)
run "$FAN" -m "$T/model" -t "$T/train.mp" -i "$T/ihvp.mp" -o "$T/bad" -s 2 -j 1 -b 50 \
  -S "1/$SSH root@127.0.0.1" -- --batch 0
ok "a failing remote shard fails the fan-out" test "$rc" -ne 0
like "$err" "influence: --batch must be" "showing influence's error from the remote job's log"
ok "and leaves no merged scores" test ! -e "$T/bad/scores.mp"
for d in "$home"/.fastif-fanout-*; do
  [ -d "$d" ] && ! printf '%s\n' "$before" | grep -qxF "$d" && rm -rf "$d"
done
ok "successful remote runs leave nothing in the remote home" test ! -e "$home/model"
done_testing
