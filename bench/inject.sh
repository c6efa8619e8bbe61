#!/bin/bash
# qmail-inject start-up and injection rate with a fake QMAILQUEUE (no C qmail here to compare with).
# Usage: bench/inject.sh [BINDIR=bin] [N=300]
set -eu
BIN=$(cd "${1:-bin}" && pwd)
N=${2:-300}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/control"
echo bench.example > "$W/control/me"
mkdir -p "$W/bin"
ln -s "$BIN/qmail-inject" "$W/bin/qmail-inject"
# the fake qmail-queue reads message (fd 0) and envelope (fd 1) to the end, like the real one
printf '#!/bin/sh\ncat >/dev/null\ncat <&1 >/dev/null\n' > "$W/fakeqq"
chmod +x "$W/fakeqq"
printf 'To: bob@remote.example\nSubject: bench\n\nhello\n' > "$W/small"
{ printf 'To: bob@remote.example, carol, "Dave D" <dave@x.example>\nCc: list@lists.example\nSubject: bench\n\n'
  head -c 1048576 /dev/urandom | base64 -w 76; } > "$W/big"
export QMAILHOME=$W QMAILQUEUE=$W/fakeqq USER=bench TZ=UTC
BUN=$(dirname "$0")/../node_modules/.bin/bun

hyperfine -N --warmup 5 --runs 100 --export-markdown "$W/startup.md" \
  -n 'bun -e 0 (runtime floor)' "$BUN -e 0" \
  -n 'fake qmail-queue alone' "sh -c '$W/fakeqq </dev/null 1</dev/null'" \
  -n 'qmail-inject -n (no queue)' "sh -c '$BIN/qmail-inject -n <$W/small >/dev/null'" \
  -n 'qmail-inject -> fake qq' "sh -c '$BIN/qmail-inject a@b.example <$W/small'" \
  -n 'qmail-inject 1 MB -> fake qq' "sh -c '$BIN/qmail-inject -H a@b.example <$W/big'" \
  -n 'sendmail -t -> qmail-inject -> fake qq' "sh -c '$BIN/sendmail -t <$W/small'" >/dev/null
cat "$W/startup.md"

rate() { # label, command (run N times in sequence, or 4 in parallel)
  local t0 t1
  t0=$EPOCHREALTIME
  for ((i = 0; i < N; i++)); do eval "$2"; done
  t1=$EPOCHREALTIME
  printf '| %s, sequential | %d | %.1f |\n' "$1" "$N" "$(echo "$N / ($t1 - $t0)" | bc -l)"
  t0=$EPOCHREALTIME
  for ((p = 0; p < 4; p++)); do (for ((i = 0; i < N / 4; i++)); do eval "$2"; done) & done
  wait
  t1=$EPOCHREALTIME
  printf '| %s, 4 in parallel | %d | %.1f |\n' "$1" "$((N / 4 * 4))" "$(echo "$((N / 4 * 4)) / ($t1 - $t0)" | bc -l)"
}
echo
echo "| injection | messages | messages/s |"
echo "|---|---:|---:|"
rate 'qmail-inject -> fake qq' "$BIN/qmail-inject a@b.example <$W/small"
rate 'fake qq alone' "$W/fakeqq </dev/null 1</dev/null"
