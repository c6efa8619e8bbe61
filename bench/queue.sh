#!/bin/bash
# qmail-queue injection: start-up (hyperfine) and messages/s, sequential and 4 in parallel,
# for each path: root writing the queue, an ordinary user through qmail-queued, the same
# user through the drop directory (qmail-queued down), and QmailQueue in-process.
# Usage (as root, after make): bench/queue.sh [N=300]
set -eu
cd "$(dirname "$0")/.."
N=${1:-300}
BUN=$PWD/node_modules/.bin/bun
T=$(mktemp -d)
chmod 755 "$T"
H=$T/qmail
QD=
trap '[ -n "$QD" ] && kill "$QD" 2>/dev/null; rm -rf "$T"' EXIT
"$BUN" scripts/setup.ts --home "$H" --no-users --hardlink >/dev/null
printf 'From: a@b.example\nTo: c@d.example\nSubject: bench\n\nhello\n' >"$T/msg"
printf 'Fa@b.example\0Tc@d.example\0\0' >"$T/env"
chmod 644 "$T/msg" "$T/env"
QQ=$H/bin/qmail-queue
AS_USER="setpriv --reuid=nobody --regid=nogroup --clear-groups"
cnt() { ls "$H/queue/todo" | wc -l; }

startqd() { "$H/bin/qmail-queued" & QD=$!; for _ in $(seq 50); do [ -S "$H/queued/socket" ] && break; sleep 0.1; done; }
stopqd() { kill "$QD"; wait "$QD" 2>/dev/null || true; QD=; }

echo "## start-up (hyperfine, small message)"
startqd
hyperfine -N --warmup 5 --runs 100 --export-markdown "$T/h1.md" \
  -n 'bun -e 0 (runtime floor)' "$BUN -e 0" \
  -n 'qmail-queue as root (direct)' "sh -c '$QQ <$T/msg 1<$T/env'" \
  -n 'qmail-queue as nobody (qmail-queued)' "sh -c 'exec $AS_USER $QQ <$T/msg 1<$T/env'" \
  -n 'setpriv alone (overhead of the line above)' "sh -c 'exec $AS_USER true'" >/dev/null
stopqd
hyperfine -N --warmup 5 --runs 100 --export-markdown "$T/h2.md" \
  -n 'qmail-queue as nobody (drop directory)' "sh -c 'exec $AS_USER $QQ <$T/msg 1<$T/env'" >/dev/null
cat "$T/h1.md"; tail -1 "$T/h2.md"
rm -f "$H"/queued/drop/*

rate() { # label, command
  local t0 t1 n
  t0=$EPOCHREALTIME
  for ((i = 0; i < N; i++)); do eval "$2"; done
  t1=$EPOCHREALTIME
  printf '| %s | sequential | %d | %.0f |\n' "$1" "$N" "$(echo "$N / ($t1 - $t0)" | bc -l)"
  n=$((N / 4 * 4))
  t0=$EPOCHREALTIME
  local pids=()
  for ((p = 0; p < 4; p++)); do (for ((i = 0; i < N / 4; i++)); do eval "$2"; done) & pids+=($!); done
  wait "${pids[@]}"
  t1=$EPOCHREALTIME
  printf '| %s | 4 in parallel | %d | %.0f |\n' "$1" "$n" "$(echo "$n / ($t1 - $t0)" | bc -l)"
}

inproc() { # label, user, P: QmailQueue in one process, P messages in flight at a time
  cat >"$T/inproc.ts" <<JS
import { QmailQueue } from "$PWD/packages/qmail/src/lib/queue/qmail.ts";
const n = Number(process.argv[2]), p = Number(process.argv[3]);
const one = async () => { const q = new QmailQueue({ home: "$H", env: {} });
  await q.put("From: a@b.example\nTo: c@d.example\nSubject: bench\n\nhello\n"); q.from("a@b.example"); q.to("c@d.example");
  const r = await q.close(); if (r.code) throw new Error("qq " + r.code); };
const t0 = performance.now(); let left = n;
await Promise.all(Array.from({ length: p }, async () => { while (left-- > 0) await one(); }));
console.log((n / ((performance.now() - t0) / 1000)).toFixed(0));
JS
  local rate
  if [ "$2" = root ]; then rate=$("$BUN" "$T/inproc.ts" "$N" "$3"); else rate=$(cd / && $AS_USER "$BUN" "$T/inproc.ts" "$N" "$3"); fi
  printf '| %s | %s | %d | %s |\n' "$1" "$([ "$3" = 1 ] && echo sequential || echo "$3 in flight")" "$N" "$rate"
}

echo
echo "## injection rate"
echo
echo "| path | mode | messages | messages/s |"
echo "|---|---|---:|---:|"
rate 'qmail-queue as root (direct)' "$QQ <$T/msg 1<$T/env"
startqd
rate 'qmail-queue as nobody (qmail-queued)' "$AS_USER $QQ <$T/msg 1<$T/env"
inproc 'QmailQueue in-process as root (direct)' root 1
inproc 'QmailQueue in-process as root (direct)' root 4
inproc 'QmailQueue in-process as nobody (qmail-queued)' nobody 1
inproc 'QmailQueue in-process as nobody (qmail-queued)' nobody 4
stopqd
rate 'qmail-queue as nobody (drop directory)' "$AS_USER $QQ <$T/msg 1<$T/env"
t0=$EPOCHREALTIME
startqd
d=$(ls "$H/queued/drop" | wc -l)
while [ "$(ls "$H/queued/drop" | wc -l)" -gt 0 ]; do sleep 0.05; done
t1=$EPOCHREALTIME
printf '| qmail-queued draining %d drop files at start | - | %d | %.0f |\n' "$d" "$d" "$(echo "$d / ($t1 - $t0)" | bc -l)"
stopqd
echo
echo "queued in total: $(cnt) messages; queue filesystem: $(df -T "$H" | awk 'NR==2 {print $2}')"
