#!/bin/bash
# qmail-send local delivery throughput: N messages (one local recipient each)
# already in todo/ when qmail-start starts; the clock runs from start until
# the last "end msg". qmail-local is a trivial fake (default /bin/true, or a
# shell script printing "did 1+0+0"), so this measures qmail-send, the spawn
# protocol, qmail-lspawn's fork/exec and qmail-clean, not the delivery.
#   [TMPDIR=/dev/shm] bash bench/send.sh [BIN_DIR=bin] [N=2000] [CONCURRENCY=10] [LOCAL=true|sh]
# Needs root and qmail's users (make setup creates them).
set -eu
BIN=$(cd "${1:-bin}" && pwd)
N=${2:-2000}
CONC=${3:-10}
LOCAL=${4:-true}
W=$(mktemp -d "${TMPDIR:-/tmp}/qts-bench-send.XXXXXX")
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; sleep 0.5; rm -rf "$W"' EXIT
chmod 755 "$W"
mkdir -p "$W/control" "$W/bin" "$W/users" "$W/user"
chown nobody "$W/user"
echo domain > "$W/control/me"
echo domain > "$W/control/locals"
echo "$CONC" > "$W/control/concurrencylocal"
for p in qmail-send qmail-lspawn qmail-rspawn qmail-clean qmail-start; do ln -s "$BIN/$p" "$W/bin/$p"; done
if [ "$LOCAL" = true ]; then ln -s /bin/true "$W/bin/qmail-local"
else printf '#!/bin/sh\necho "did 1+0+0"\n' > "$W/bin/qmail-local"; chmod 755 "$W/bin/qmail-local"; fi
printf '#!/bin/sh\nexit 0\n' > "$W/bin/qmail-remote"; chmod 755 "$W/bin/qmail-remote"
python3 - "$W" "$N" <<'PY'
import os, sys, grp, pwd, struct
w, n = sys.argv[1], int(sys.argv[2])
q = w + "/queue"
u = lambda x: pwd.getpwnam(x).pw_uid
g = lambda x: grp.getgrnam(x).gr_gid
qq, qs, qr, gq = u("qmailq"), u("qmails"), u("qmailr"), g("qmail")
def mk(p, uid, mode):
    os.makedirs(q + "/" + p, exist_ok=True); os.chown(q + "/" + p, uid, gq); os.chmod(q + "/" + p, mode)
for p, uid, mode in [("", qq, 0o750), ("pid", qq, 0o700), ("intd", qq, 0o700), ("todo", qq, 0o750), ("mess", qq, 0o750),
                     ("bounce", qs, 0o700), ("lock", qq, 0o750), ("info", qs, 0o700), ("local", qs, 0o700), ("remote", qs, 0o700)]:
    mk(p, uid, mode)
for i in range(23):
    mk("mess/%d" % i, qq, 0o750)
    for s in ("info", "local", "remote"): mk("%s/%d" % (s, i), qs, 0o700)
open(q + "/lock/sendmutex", "w").close(); os.chown(q + "/lock/sendmutex", qs, gq)
open(q + "/lock/tcpto", "wb").write(b"\0" * 1024); os.chown(q + "/lock/tcpto", qr, gq)
os.mkfifo(q + "/lock/trigger", 0o622); os.chown(q + "/lock/trigger", qs, gq); os.chmod(q + "/lock/trigger", 0o622)
# users/cdb: one wildcard entry sending every local part to nobody (cdb format, DJB hash)
def h(k):
    x = 5381
    for c in k: x = ((x << 5) + x ^ c) & 0xffffffff
    return x
recs = [(b"", b"-"), (b"!", b"nobody\0%d\0%d\0%s/user\0-\0" % (65534, 65534, w.encode()))]
body = b""; pos = 2048; tables = [[] for _ in range(256)]
for k, v in recs:
    tables[h(k) & 255].append((h(k), pos)); body += struct.pack("<II", len(k), len(v)) + k + v; pos += 8 + len(k) + len(v)
head = b""; tail = b""
for t in tables:
    nslots = 2 * len(t); slots = [(0, 0)] * nslots
    for hh, p in t:
        i = (hh >> 8) % nslots
        while slots[i][1]: i = (i + 1) % nslots
        slots[i] = (hh, p)
    head += struct.pack("<II", pos + len(tail), nslots)
    tail += b"".join(struct.pack("<II", a, b) for a, b in slots)
open(w + "/users/cdb", "wb").write(head + body + tail)
msg = b"Received: (qmail 1 invoked by uid 0); 1 Jan 2026 00:00:00 -0000\nSubject: bench\n\n" + b"x" * 900 + b"\n"
for i in range(n):
    fn = q + "/pid/bench.%d" % i
    fd = os.open(fn, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    ino = os.fstat(fd).st_ino
    os.link(fn, "%s/mess/%d/%d" % (q, ino % 23, ino)); os.unlink(fn)
    os.write(fd, msg); os.close(fd); os.chown("%s/mess/%d/%d" % (q, ino % 23, ino), qq, gq)
    open("%s/intd/%d" % (q, ino), "wb").write(b"u0\0p1\0Fme@domain\0Tu%d@domain\0" % i)
    os.chown("%s/intd/%d" % (q, ino), qq, gq)
    os.link("%s/intd/%d" % (q, ino), "%s/todo/%d" % (q, ino))
PY
sync
LOG="$W/log"
: > "$LOG"
s=$(date +%s%N)
( cd / && exec env - PATH="$W/bin:/usr/bin:/bin" QMAILHOME="$W" "$W/bin/qmail-start" ./Mailbox > "$LOG" 2>&1 ) &
PID=$!
done_n() { local n; n=$(grep -c '^end msg' "$LOG" 2>/dev/null); echo "${n:-0}"; }
while [ "$(done_n)" -lt "$N" ]; do
  sleep 0.05
  if ! kill -0 $PID 2>/dev/null; then echo "qmail-send died:"; tail "$LOG"; exit 1; fi
done
e=$(date +%s%N)
# CPU seconds (user+system) of qmail-send and its children, from /proc, before they exit
cpu() { awk -v t="$(getconf CLK_TCK)" '{ split($0, a, ") "); split(a[2], f, " "); printf "%.2f", (f[12] + f[13]) / t }' "/proc/$1/stat"; }
CPU="qmail-send $(cpu $PID)s"
for c in $(ps -o pid= --ppid $PID); do CPU="$CPU, $(cat /proc/$c/comm) $(cpu $c)s"; done
kill -TERM $PID; wait $PID 2>/dev/null || true; PID=
left=$(find "$W/queue" -type f ! -path '*/lock/*' | wc -l)
ms=$(( (e - s) / 1000000 ))
echo "qmail-send: $N local deliveries (concurrencylocal $CONC, qmail-local=$LOCAL) in ${ms} ms:" \
  "$(( N * 1000000000 / (e - s) )) msg/s; $left queue files left"
echo "  CPU: $CPU"
