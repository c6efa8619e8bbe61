#!/bin/bash
# qmail-smtpd under Debian's tcpserver with a fake QMAILQUEUE (reads fd 0 and 1,
# exits 0), driven by shared/bench/qmail/bench_smtp.py; and qmail-remote into
# shared/bench/qmail/sink.py through control/smtproutes. Prints the figures.
#   bash bench/smtp.sh [BIN_DIR=bin] [N=1000]
set -eu
BIN=$(cd "${1:-bin}" && pwd)
N=${2:-1000}
B=${SHARED_BENCH:-/work/shared/bench/qmail}
W=$(mktemp -d /tmp/qts-bench-smtp.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT
mkdir -p "$W/control" "$W/queue/mess"
echo test.example > "$W/control/me"
echo test.example > "$W/control/rcpthosts"
printf '#!/bin/sh\ncat >/dev/null\ncat <&1 >/dev/null\nexit 0\n' > "$W/fakeqq"
chmod 755 "$W/fakeqq"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
QMAILHOME=$W QMAILQUEUE=$W/fakeqq /usr/bin/tcpserver -R -H -l0 -c 40 127.0.0.1 "$PORT" "$BIN/qmail-smtpd" \
  </dev/null >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5
run() {
  python3 "$B/bench_smtp.py" --root "$W" --port "$PORT" --no-maildir --rcpt bench@test.example --runs 3 "$@" 2>/dev/null | grep -E "median"
}
echo "== qmail-smtpd: one message per connection, sequential (n=$N)"
run -n "$N" -c 1 -m 1
echo "== qmail-smtpd: one message per connection, 10 concurrent clients (n=$N)"
run -n "$N" -c 10 -m 1
echo "== qmail-smtpd: 100 messages per connection (n=$N)"
run -n "$N" -c 1 -m 100

echo "== CPU per session (user+sys, qmail-smtpd + fake qmail-queue), 200 sessions on pipes, one message each"
printf 'HELO client.example\r\nMAIL FROM:<a@client.example>\r\nRCPT TO:<bench@test.example>\r\nDATA\r\n' > "$W/session"
python3 -c 'import sys; sys.stdout.write(("x" * 62 + "\r\n") * 16)' >> "$W/session"
printf '.\r\nQUIT\r\n' >> "$W/session"
cat > "$W/cpu.sh" <<SH
i=0
while [ \$i -lt 200 ]; do QMAILHOME=$W QMAILQUEUE=$W/fakeqq TCPREMOTEIP=127.0.0.1 "$BIN/qmail-smtpd" < "$W/session" > /dev/null; i=\$((i+1)); done
SH
/usr/bin/time -f "%U %S %e" -o "$W/cpu" sh "$W/cpu.sh"
read -r u sy el < "$W/cpu"
python3 -c "print(f'{($u + $sy) / 200 * 1000:.1f} ms CPU per session, {$el / 200 * 1000:.1f} ms wall')"
echo "   for scale, 200 x bun -e 0:"
/usr/bin/time -f "%U %S %e" -o "$W/cpu0" sh -c 'i=0; while [ $i -lt 200 ]; do '"$(cd "$BIN/.." && pwd)"'/node_modules/.bin/bun -e 0; i=$((i+1)); done'
read -r u sy el < "$W/cpu0"
python3 -c "print(f'{($u + $sy) / 200 * 1000:.1f} ms CPU per run, {$el / 200 * 1000:.1f} ms wall')"
echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg)"

SPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$B/sink.py" --port "$SPORT" >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.7
echo "remote.example:127.0.0.1:$SPORT" > "$W/control/smtproutes"
python3 - "$W/msg" <<'PY'
import sys
h = "From: sender@client.example\nTo: user@remote.example\nSubject: bench\n\n"
open(sys.argv[1], "w").write((h + ("x" * 63 + "\n") * 20)[:1023] + "\n")
PY
R=$((N / 2))
cat > "$W/remote.sh" <<SH
i=0
while [ \$i -lt $R ]; do
  QMAILHOME=$W "$BIN/qmail-remote" remote.example sender@client.example user@remote.example < "$W/msg" > "$W/out.\$\$" || exit 1
  case \$(head -c 4 "$W/out.\$\$" | tr -d '\0') in rK1) ;; *) echo "bad report: \$(tr '\0' '|' < "$W/out.\$\$")"; exit 1;; esac
  i=\$((i+1))
done
SH
echo "== qmail-remote: $R deliveries of 1 KB to a local sink, one process each, sequential"
s=$(date +%s%N); /usr/bin/time -f "%U %S" -o "$W/rcpu" sh "$W/remote.sh"; e=$(date +%s%N)
read -r u sy < "$W/rcpu"
echo "$R in $(( (e - s) / 1000000 )) ms: $(( R * 1000000000 / (e - s) )) msg/s; $(python3 -c "print(f'{($u + $sy) / $R * 1000:.1f}')") ms CPU per delivery"
echo "== qmail-remote: the same, 4 in parallel ($((R * 4)) deliveries)"
s=$(date +%s%N)
LOOPS=()
for k in 1 2 3 4; do sh "$W/remote.sh" & LOOPS+=($!); done
for p in "${LOOPS[@]}"; do wait "$p"; done
e=$(date +%s%N)
echo "$((R * 4)) in $(( (e - s) / 1000000 )) ms: $(( R * 4 * 1000000000 / (e - s) )) msg/s"
