#!/bin/bash
# sendmail run by an ordinary user (nobody): through qmail-queued's socket, and into the drop
# directory while qmail-queued is down; then qmail-queued's start-up drain of those drop files.
# Wall time is at the mercy of the machine's load; the CPU columns (the caller's user+system from
# hyperfine, qmail-queued's from /proc/PID/stat) much less. Run as root (setup, setpriv). To
# compare builds, pass each tree's root. Usage: bench/queued.sh [ROOT=.] [RUNS=100]
set -eu
ROOT=$(cd "${1:-.}" && pwd)
RUNS=${2:-100}
W=$(mktemp -d)
chmod 755 "$W"
H=$W/qmail
QD=
trap '[ -n "$QD" ] && kill "$QD" 2>/dev/null; rm -rf "$W"' EXIT
"$ROOT/node_modules/.bin/bun" "$ROOT/scripts/setup.ts" --home "$H" --no-users --hardlink >/dev/null
echo bench.example > "$H/control/me"
printf 'To: bob@remote.example\nSubject: bench\n\nhello\n' > "$W/small"
chmod 644 "$W/small"
AS="setpriv --reuid=nobody --regid=nogroup --clear-groups"
CMD="$AS sh -c '$H/bin/sendmail -t -f a@b.example -i <$W/small'"
TCK=$(getconf CLK_TCK)
cpu() { awk -v t="$TCK" '{ print ($14 + $15) * 1000 / t }' "/proc/$1/stat"; }
start() {
  "$H/bin/qmail-queued" 2>/dev/null &
  QD=$!
  for _ in $(seq 200); do [ -S "$H/queued/socket" ] && break; sleep 0.05; done
}
stop() {
  kill "$QD"
  wait "$QD" 2>/dev/null || true
  QD=
}
row() { # label, hyperfine json, daemon ms of CPU per message (or -)
  /usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[2]))["results"][0]
print("| %s | %.1f ± %.1f | %.1f | %s |" % (sys.argv[1], r["mean"] * 1e3, r["stddev"] * 1e3, (r["user"] + r["system"]) * 1e3, sys.argv[3]))
' "$@"
}
echo "| sendmail as nobody ($RUNS runs) | wall ms | caller CPU ms | qmail-queued CPU ms/msg |"
echo "|---|---:|---:|---:|"
start
c0=$(cpu "$QD")
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$W/up.json" "$CMD" >/dev/null
c1=$(cpu "$QD")
n=$(ls "$H/queue/todo" | wc -l)
row "qmail-queued up: socket" "$W/up.json" "$(echo "($c1 - $c0) / $n" | bc -l | xargs printf %.2f)"
stop
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$W/down.json" "$CMD" >/dev/null
row "qmail-queued down: drop file" "$W/down.json" -
drops=$(ls "$H/queued/drop" | wc -l)
start
for _ in $(seq 600); do [ -z "$(ls "$H/queued/drop")" ] && break; sleep 0.05; done
echo "| drain at start: $drops drop files | | | $(echo "($(cpu "$QD")) / $drops" | bc -l | xargs printf %.2f) (incl. start-up) |"
stop
# A flood: nobody holds 1000 connections to a qmail-queued limited to 200 descriptors.
prlimit --nofile=200:200 -- "$H/bin/qmail-queued" 2>/dev/null &
QD=$!
for _ in $(seq 200); do [ -S "$H/queued/socket" ] && break; sleep 0.05; done
(sleep 8) | $AS /usr/bin/python3 -c '
import socket, sys
socks = []
for i in range(1000):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(sys.argv[1])
    except OSError:
        break
    socks.append(s)
sys.stdin.read()
' "$H/queued/socket" &
FL=$!
sleep 3
c0=$(cpu "$QD")
sleep 4
echo
echo "flood of 1000 held connections, 200 descriptors: qmail-queued used $(echo "$(cpu "$QD") - $c0" | bc) ms of CPU in 4 s, holds $(ls "/proc/$QD/fd" | wc -l) descriptors"
kill "$FL" 2>/dev/null || true
wait "$FL" 2>/dev/null || true
stop
