#!/bin/bash
# Forty slow clients (issue 18): the shipped smtpd service's chain (env with the
# JIT reservation, softlimit -m 500000000, Debian's tcpserver with its default
# -c 40, qmail-smtpd as qmaild through qmail-queued into a real queue made by
# scripts/setup.ts), and 40 clients at once, each sending its whole session one
# byte every DELAY seconds. Prints the total RSS and PSS of the 40 qmail-smtpd
# processes once all are connected, and whether every client got every reply.
#   bash bench/slow-clients.sh [DELAY=1] [CLIENTS=40]
# Needs root and qmail's users (make setup creates them).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DELAY=${1:-1}
CLIENTS=${2:-40}
W=$(mktemp -d /tmp/qts-bench-slow.XXXXXX)
chmod 755 "$W"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT
H=$W/qmail
"$ROOT/node_modules/.bin/bun" "$ROOT/scripts/setup.ts" --home "$H" --no-users --hardlink >/dev/null 2>&1
echo test.example > "$H/control/me"
echo test.example > "$H/control/rcpthosts"
"$H/bin/qmail-queued" </dev/null >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$H/queued/socket" ] && break; sleep 0.1; done
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
QD=$(id -u qmaild) GD=$(id -g qmaild)
env - PATH="$H/bin:/usr/bin:/bin" BUN_JSC_jitMemoryReservationSize=67108864 \
  softlimit -m 500000000 /usr/bin/tcpserver -u "$QD" -g "$GD" -R -H -l0 127.0.0.1 "$PORT" "$H/bin/qmail-smtpd" \
  </dev/null >/dev/null 2>&1 &
TS=$!
PIDS+=($TS)
sleep 0.5
echo "== $CLIENTS clients, one byte every $DELAY s, softlimit -m 500000000, tcpserver -c 40 (default)"
echo "   MemAvailable before: $(awk '/MemAvailable/ {print int($2/1024)}' /proc/meminfo) MB, load $(cut -d' ' -f1 /proc/loadavg)"
python3 - "$PORT" "$DELAY" "$CLIENTS" "$TS" <<'PY'
import asyncio, os, re, sys, time
port, delay, n, ts = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
session = b"HELO c\r\nMAIL FROM:<a@c>\r\nRCPT TO:<u@test.example>\r\nDATA\r\nSubject: s\r\n\r\nx\r\n.\r\nQUIT\r\n"
want = [r"^220 ", r"^250 test\.example$", r"^250 ok$", r"^250 ok$", r"^354 go ahead$", r"^250 ok \d+ qp \d+$", r"^221 "]
connected = 0

async def client(i):
    global connected
    r, w = await asyncio.open_connection("127.0.0.1", port)
    connected += 1
    for b in session:
        w.write(bytes([b]))
        await w.drain()
        await asyncio.sleep(delay)
    data = await asyncio.wait_for(r.read(), 120)
    w.close()
    lines = data.decode("latin1").split("\r\n")[:-1]
    return len(lines) == len(want) and all(re.match(p, l) for p, l in zip(want, lines))

def kids():
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit(): continue
        try:
            st = open(f"/proc/{d}/stat").read()
            if int(st[st.rindex(")") + 2:].split()[1]) == ts: out.append(int(d))
        except Exception: pass
    return out

def mem(pids):
    rss = pss = 0
    for p in pids:
        try:
            for l in open(f"/proc/{p}/smaps_rollup"):
                if l.startswith("Rss:"): rss += int(l.split()[1])
                if l.startswith("Pss:"): pss += int(l.split()[1])
        except Exception: pass
    return rss, pss

async def main():
    t0 = time.time()
    tasks = [asyncio.create_task(client(i)) for i in range(n)]
    while connected < n and time.time() - t0 < 60: await asyncio.sleep(0.2)
    await asyncio.sleep(min(20, delay * 20))
    pids = kids()
    rss, pss = mem(pids)
    print(f"   {len(pids)} qmail-smtpd running: RSS {rss / 1024:.0f} MB in all ({rss / 1024 / max(1, len(pids)):.1f} MB each), "
          f"PSS {pss / 1024:.0f} MB in all ({pss / 1024 / max(1, len(pids)):.1f} MB each)")
    print(f"   MemAvailable meanwhile: {int(open('/proc/meminfo').read().split('MemAvailable:')[1].split()[0]) // 1024} MB")
    ok = await asyncio.gather(*tasks, return_exceptions=True)
    good = sum(1 for x in ok if x is True)
    print(f"   {good}/{n} sessions got every reply (220, 250, 250, 250, 354, 250 ok qp, 221) in {time.time() - t0:.0f} s")
asyncio.run(main())
PY
echo "   queued: $(ls "$H/queue/todo" "$H/queue/mess"/*/ 2>/dev/null | grep -c '^[0-9]') files in todo+mess (qmail-send is not running)"
echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg)"
