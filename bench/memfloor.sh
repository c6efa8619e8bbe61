#!/bin/bash
# The least `softlimit -m` under which our tcpserver + qmail-smtpd accept a 20 MB message (250 after
# DATA, the message in the queue), found by bisection; and, for each -m tried, the outcome.
#   bash bench/memfloor.sh [LO=300000000] [HI=1000000000] [STEP=10000000] [SIZE=20000000]
# Runs as root: a temp qmail home from scripts/setup.ts, qmail-smtpd writing its queue directly
# (as root; as qmaild it would hand the message to qmail-queued, which no limit applies to).
set -u
cd "$(dirname "$0")/.." || exit 1
LO=${1:-300000000}
HI=${2:-1000000000}
STEP=${3:-10000000}
SIZE=${4:-20000000}
W=$(mktemp -d /tmp/qts-memfloor.XXXXXX)
chmod 755 "$W"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
node_modules/.bin/bun scripts/setup.ts --home "$W/q" --no-users --hardlink >/dev/null || exit 111
echo test.example >"$W/q/control/me"
echo test.example >"$W/q/control/rcpthosts"
python3 - "$W/msg" "$SIZE" <<'PY'
import sys
n = int(sys.argv[2])
line = ("x" * 76 + "\r\n").encode()
open(sys.argv[1], "wb").write(b"From: a@client.example\r\nTo: u@test.example\r\nSubject: big\r\n\r\n" + line * (n // len(line)))
PY
# one try: 0 when the server answered 250 to the message, else 1; the server's stderr in $W/err
try() {
  local m=$1 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  env - PATH="$W/q/bin:/usr/bin:/bin" "$W/q/bin/softlimit" -m "$m" \
    "$W/q/bin/tcpserver" -RHl0 127.0.0.1 "$port" "$W/q/bin/qmail-smtpd" </dev/null >/dev/null 2>"$W/err" &
  PID=$!
  local ok=1
  python3 - "$port" "$W/msg" <<'PY' && ok=0
import smtplib, sys, time
for _ in range(100):
    try:
        s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=120)
        break
    except OSError:
        time.sleep(0.05)
else:
    sys.exit(1)
try:
    s.helo("client.example")
    s.mail("a@client.example")
    s.rcpt("u@test.example")
    code, _ = s.data(open(sys.argv[2], "rb").read())
    s.quit()
    sys.exit(0 if code == 250 else 1)
except Exception:
    sys.exit(1)
PY
  kill "$PID" 2>/dev/null
  wait "$PID" 2>/dev/null
  PID=""
  return $ok
}
while [ $((HI - LO)) -gt "$STEP" ]; do
  mid=$(((LO + HI) / 2))
  if try "$mid"; then
    echo "-m $mid: 250"
    HI=$mid
  else
    echo "-m $mid: failed: $(head -c 300 "$W/err" | tr '\n' ' ')"
    LO=$mid
  fi
done
echo "least -m that served a $SIZE-byte message: $HI (within $STEP; load $(cut -d' ' -f1 /proc/loadavg))"
