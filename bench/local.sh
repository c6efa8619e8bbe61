#!/bin/bash
# qmail-local: 1000 deliveries of a 1 KB message into a Maildir, one process each,
# as an unprivileged uid (setpriv), the way qmail-lspawn runs it. Prints messages/s.
#   bash bench/local.sh [BIN_DIR=bin] [N=1000]
set -eu
BIN=$(cd "${1:-bin}" && pwd)
N=${2:-1000}
U=4242
W=$(mktemp -d /tmp/qts-bench-local.XXXXXX)
trap 'rm -rf "$W"' EXIT
chmod 755 "$W"
mkdir -p "$W/home/Maildir/tmp" "$W/home/Maildir/new" "$W/home/Maildir/cur"
chown -R $U:$U "$W/home"
python3 - "$W/msg" <<'PY'
import sys
h = "From: sender@client.example\nTo: bench@test.example\nSubject: bench\nDate: 1 Jan 2026 00:00:00 -0000\nMessage-ID: <x@y>\n\n"
body = ("x" * 63 + "\n") * 20
m = (h + body)[:1023] + "\n"
open(sys.argv[1], "w").write(m)
PY
cat > "$W/loop.sh" <<SH
i=0
while [ \$i -lt $N ]; do
  "$BIN/qmail-local" -- bench "$W/home" bench '' '' test.example sender@client.example ./Maildir/ < "$W/msg" >/dev/null || exit 1
  i=\$((i+1))
done
SH
s=$(date +%s%N)
setpriv --reuid=$U --regid=$U --clear-groups sh "$W/loop.sh"
e=$(date +%s%N)
got=$(ls "$W/home/Maildir/new" | wc -l)
ms=$(( (e - s) / 1000000 ))
echo "delivered $got of $N in ${ms} ms: $(( N * 1000000000 / (e - s) )) msg/s, $(( (e - s) / N / 1000 )) us/delivery"
# The delivery code alone, in one process (no start-up): the same maildir write, N times.
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cat > "$W/inproc.ts" <<TS
import { openSync } from "node:fs";
import { Message } from "$ROOT/packages/qmail/src/lib/local/local-message.ts";
import { maildirDeliver } from "$ROOT/packages/qmail/src/lib/local/maildir.ts";
process.chdir("$W/home");
const fd = openSync("$W/msg", "r");
const rp = Buffer.from("Return-Path: <sender@client.example>\\n");
const dt = Buffer.from("Delivered-To: bench@test.example\\n");
let i = 0;
const t0 = performance.now();
// One process has one pid: give each message its own second so the <time>.<pid>.<host> names differ.
for (; i < $N; i++) maildirDeliver(Buffer.from("./Maildir2/"), new Message(fd), rp, dt, { now: () => i });
const ms = performance.now() - t0;
console.log(\`in-process: $N maildir deliveries in \${ms.toFixed(0)} ms: \${Math.round(($N * 1000) / ms)} msg/s\`);
TS
mkdir -p "$W/home/Maildir2/tmp" "$W/home/Maildir2/new" "$W/home/Maildir2/cur"
chown -R $U:$U "$W/home/Maildir2"
chmod 644 "$W/inproc.ts"
setpriv --reuid=$U --regid=$U --clear-groups "$ROOT/node_modules/.bin/bun" "$W/inproc.ts"
if command -v hyperfine >/dev/null; then
  # Per delivery, the shell's own start-up subtracted by hyperfine (as in shared/bench's bench_proc.sh).
  setpriv --reuid=$U --regid=$U --clear-groups hyperfine -w 10 -r 200 \
    "$BIN/qmail-local -- bench $W/home bench '' '' test.example sender@client.example ./Maildir/ < $W/msg" \
    2>&1 | grep -E "Time|Range" || true
fi
