#!/bin/bash
# Memory of the `make start` tree (scripts/start.sh: svscan, three supervise, qmail-send with its
# helpers, tcpserver and the two multilogs), issue 17's figures: PSS of the whole tree after it has
# delivered one message over SMTP (at once, and again after SETTLE seconds, when idle delivery workers
# have exited), the largest RSS in it against an idle bare compiled Bun program's, and the PSS that 40
# concurrent SMTP sessions (tcpserver's default -c 40) add, per session.
#   bash bench/tree-pss.sh   (as root or not, after make). Variables: PORT=2591 SETTLE=8,
#   CLASSIC=1 for the classic path (make start CLASSIC=1), ARTICLE=1 for the article's tree alone
#   (smtpd6, submission, smtps and authd are stopped and moved to var/service.off before the message)
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO" || exit 1
PORT=${PORT:-2591}
SETTLE=${SETTLE:-8}
W=$(mktemp -d /tmp/qts-treepss.XXXXXX)
START=
trap '[ -n "$START" ] && kill -TERM "$START" 2>/dev/null; wait "$START" 2>/dev/null; rm -rf "$W"' EXIT

# An idle bare program, compiled like ours (scripts/build.ts's flags).
echo 'setInterval(() => {}, 1 << 30);' >"$W/idle.ts"
node_modules/.bin/bun build --compile --bytecode --minify-syntax --no-compile-autoload-dotenv \
  --no-compile-autoload-bunfig --no-compile-autoload-tsconfig --no-compile-autoload-package-json \
  "$W/idle.ts" --outfile "$W/idle" >/dev/null 2>&1 || exit 111
"$W/idle" &
IDLE=$!
sleep 3
BARE_RSS=$(awk '/^VmRSS/ {print $2}' "/proc/$IDLE/status")
BARE_PSS=$(awk '/^Pss:/ {print $2}' "/proc/$IDLE/smaps_rollup")
kill "$IDLE"

PORT=$PORT setsid bash scripts/start.sh >"$W/start.log" 2>&1 &
START=$!
for _ in $(seq 600); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1).close()" 2>/dev/null && break; sleep 0.2; done
SVSCAN=$(ps -o pid= --ppid "$START" | head -1 | tr -d ' ')
if [ -n "${ARTICLE:-}" ]; then
  OFF=$REPO/var/service.off
  # after start.sh's readiness wait, which covers smtpd6
  for _ in $(seq 300); do grep -q '^start: svscan' "$W/start.log" && break; sleep 0.2; done
  rm -rf "$OFF" && mkdir -p "$OFF"
  for d in smtpd6 submission smtps authd; do
    [ -d "$REPO/var/service/$d" ] || continue
    mv "$REPO/var/service/$d" "$OFF/$d" && "$REPO/var/qmail/bin/svc" -dx "$OFF/$d" "$OFF/$d/log"
  done
  for _ in $(seq 100); do
    up=0
    for d in "$OFF"/* "$OFF"/*/log; do "$REPO/var/qmail/bin/svok" "$d" 2>/dev/null && up=1; done
    [ "$up" = 0 ] && break
    sleep 0.2
  done
  rm -rf "$OFF"
fi
NAME=$(id -un)
MAILDIR=$REPO/var/home/$NAME/Maildir/new
before=$(ls "$MAILDIR" | wc -l)
python3 - "$PORT" "$NAME" <<'PY'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.example", timeout=60)
s.sendmail("a@client.example", [sys.argv[2] + "@localhost"], b"Subject: tree-pss\r\n\r\n" + b"x" * 1000 + b"\r\n")
s.quit()
PY
for _ in $(seq 600); do [ "$(ls "$MAILDIR" | wc -l)" -gt "$before" ] && break; sleep 0.1; done

tree() { # pid comm rss pss pss_anon pss_file, for every process in svscan's session
  local p c r s
  for p in $(ps -s "$SVSCAN" -o pid=); do
    c=$(cat "/proc/$p/comm" 2>/dev/null) r=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null)
    s=$(awk '/^(Pss|Pss_Anon|Pss_File):/ {printf "%s ", $2}' "/proc/$p/smaps_rollup" 2>/dev/null)
    [ -n "$c" ] && [ -n "$r" ] && [ -n "$s" ] && printf '%s %s %s %s\n' "$p" "$c" "$r" "$s"
  done
}
report() { # label file
  awk -v label="$1" -v bare="$BARE_RSS" '{ n++; pss += $4; an += $5; fi += $6; if ($3 > max) { max = $3; who = $2 } ; c[$2]++ }
    END { printf "%s: %d processes, PSS %.1f MiB (anonymous %.1f, file %.1f), largest RSS %d KiB (%s) = %.2fx the idle bare program'"'"'s %d KiB;", label, n, pss / 1024, an / 1024, fi / 1024, max, who, max / bare, bare
          for (k in c) printf " %s x%d", k, c[k]; printf "\n" }' "$2"
}
echo "tree-pss.sh: $(date -u +%H:%M) UTC, load $(cut -d' ' -f1 /proc/loadavg), HEAD $(git rev-parse --short HEAD)${CLASSIC:+, CLASSIC=1}${ARTICLE:+, ARTICLE=1}"
echo "idle bare compiled Bun program: RSS $BARE_RSS KiB, PSS $BARE_PSS KiB"
sleep 1
tree >"$W/t1"
report "after one message (1 s)" "$W/t1"
sleep "$SETTLE"
tree >"$W/t2"
report "after $((SETTLE + 1)) s" "$W/t2"
sort -k4 -n -r "$W/t2" | awk '{ printf "  %-14s RSS %6d KiB  PSS %6d KiB (anonymous %d)\n", $2, $3, $4, $5 }'

# 40 concurrent sessions, each past its greeting and EHLO, held open while the tree is measured.
python3 - "$PORT" "$W" <<'PY' &
import socket, sys, time, os
port, w = int(sys.argv[1]), sys.argv[2]
socks = []
for i in range(40):
    s = socket.create_connection(("127.0.0.1", port), 300)
    s.recv(512)
    s.sendall(b"EHLO client.example\r\n")
    s.recv(512)
    socks.append(s)
open(os.path.join(w, "held"), "w").close()
time.sleep(60)
PY
HOLD=$!
for _ in $(seq 3000); do [ -e "$W/held" ] && break; sleep 0.1; done
sleep 2
tree >"$W/t3"
report "with 40 sessions open" "$W/t3"
python3 -c "import sys; a = sum(int(l.split()[3]) for l in open(sys.argv[1])); b = sum(int(l.split()[3]) for l in open(sys.argv[2])); print(f'40 sessions add {(b - a) / 1024:.1f} MiB PSS: {(b - a) / 40 / 1024:.2f} MiB per session')" "$W/t2" "$W/t3"
kill "$HOLD" 2>/dev/null
wait "$HOLD" 2>/dev/null
