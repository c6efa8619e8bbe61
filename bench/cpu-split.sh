#!/bin/bash
# Where the CPU goes on the SMTP path: N messages, one per connection, sequential, through
# tcpserver + qmail-smtpd -> qmail-queued -> qmail-send -> qmail-lspawn + qmail-local into a Maildir.
# Prints each process's user+system CPU per message (its own time, and the reaped children's time:
# tcpserver's children are the qmail-smtpd processes, qmail-lspawn's are the qmail-local ones), and its
# minor page faults per message likewise, taken from /proc/PID/stat before and after the run. Uses its
# own qmail home and the alias user's Maildir (recipient prof@test.example), so it does not touch the
# bench user that bench/run.sh uses.
#   bash bench/cpu-split.sh [N=200] [PORT=23150] [M=1 messages per connection] (as root, after make;
#   DT_BIN= where tcpserver and multilog come from, default the home's bin; LOCALWORKERS=N: qmail-lspawn's
#   delivery workers, QTS_LOCALWORKERS=N; PRESTART=N: qmail-smtpd started ahead, QTS_PRESTART=N;
#   NOUSERS=1: no users/cdb, so every delivery needs qmail-getpw's lookup; the recipient is then bench;
#   XENV="K=V ...": added to the environment of the whole stack, e.g. MIMALLOC_ALLOW_THP=0 to keep the
#   relay from giving it, qts(8))
# PROF=DIR: also write a Bun CPU profile of every qmail-smtpd run into DIR/smtpd (read them with
# bench/prof.py); tcpserver then comes from /usr/bin so that only qmail-smtpd is profiled. (Profiling
# qmail-start's tree the same way kills qmail-start with SIGPWR, so qmail-local is profiled alone.)
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO" || exit 1
N=${1:-200}
PORT=${2:-23150}
M=${3:-1}
DT=${DT_BIN:+$(cd "$DT_BIN" && pwd)}
PROF=${PROF:-}
PO_SMTPD=
if [ -n "$PROF" ]; then
  mkdir -p "$PROF/smtpd" && chmod 1777 "$PROF/smtpd"
  PO_SMTPD="BUN_OPTIONS=--cpu-prof --cpu-prof-dir=$PROF/smtpd --cpu-prof-interval=100"
  DT=/usr/bin
fi
W=$(mktemp -d /tmp/qts-cpusplit.XXXXXX)
chmod 755 "$W"
H=$W/qmail
SEND=
TS=
trap '[ -n "$TS" ] && kill "$TS" 2>/dev/null; [ -n "$SEND" ] && kill -TERM "$SEND" 2>/dev/null; sleep 1; [ "${KEEP:-0}" = 1 ] || rm -rf "$W"' EXIT
node_modules/.bin/bun scripts/setup.ts --home "$H" >/dev/null || exit 111
# tcpserver and multilog from the home's bin, as an installation runs them (one qts for every program:
# our programs hand their own children the JSCWarmUp option, qts(8)), unless DT_BIN says otherwise
DT=${DT:-$H/bin}
"$H/bin/config-fast" test.example >/dev/null
echo 10 >"$H/control/concurrencylocal"
if [ "${NOUSERS:-0}" = 1 ]; then
  # no users/cdb: every delivery needs qmail-getpw's lookup, as on an installation without qmail-newu;
  # the recipient is the passwd user bench (as in bench/fastpath.sh)
  id bench >/dev/null 2>&1 || useradd -m -d /home/bench -s /bin/sh bench || exit 111
  BH=$(getent passwd bench | cut -d: -f6)
  mkdir -p "$BH" && chown bench: "$BH"
  [ -d "$BH/Maildir/new" ] || setpriv --reuid=bench --regid=bench --clear-groups "$H/bin/maildirmake" "$BH/Maildir"
  echo "./Maildir/" >"$BH/.qmail" && chown bench: "$BH/.qmail" && chmod 644 "$BH/.qmail"
  RCPT=bench@test.example NEW=$BH/Maildir/new
else
  setpriv --reuid=alias --regid="$(id -g alias)" --clear-groups "$H/bin/maildirmake" "$H/alias/Maildir"
  echo ./Maildir/ >"$H/alias/.qmail-prof"
  # the alias user's passwd home is /var/qmail/alias: point prof at this home's alias directory instead
  printf '=prof:alias:%s:%s:%s/alias:-:prof:\n.\n' "$(id -u alias)" "$(id -g alias)" "$H" >"$H/users/assign"
  (cd "$H" && "$H/bin/qmail-newu") || exit 111
  chown alias "$H/alias/.qmail-prof"
  RCPT=prof@test.example NEW=$H/alias/Maildir/new
fi
mkdir -p "$W/log" && chown qmaill "$W/log"
(cd / && exec setsid env - PATH="$H/bin:/usr/bin:/bin" ${XENV:-} ${LOCALWORKERS:+QTS_LOCALWORKERS=$LOCALWORKERS} qmail-start ./Maildir/ "$DT/multilog" t "$W/log") </dev/null >/dev/null 2>&1 &
SEND=$!
setsid env ${XENV:-} ${PO_SMTPD:+"$PO_SMTPD"} ${PRESTART:+QTS_PRESTART=$PRESTART} "$DT/tcpserver" -R -H -l0 -c 40 -u "$(id -u qmaild)" -g "$(getent group nofiles | cut -d: -f3)" \
  127.0.0.1 "$PORT" "$H/bin/qmail-smtpd" </dev/null >"$W/tcpserver.log" 2>&1 &
TS=$!
sleep 2
snap() { # comm own-cpu-ticks children-cpu-ticks, for tcpserver, qmail-send and its children
  local p
  for p in "$TS" "$SEND" $(pgrep -P "$SEND"); do
    awk '{ split($0, a, ") "); split(a[2], f, " "); print f[12] + f[13], f[14] + f[15], f[8], f[9] }' "/proc/$p/stat" |
      sed "s/^/$(cat "/proc/$p/comm") /"
  done
}
snap >"$W/before"
python3 - "$PORT" "$N" "$NEW" "$M" "$RCPT" >"$W/client" <<'PY'
import os, resource, smtplib, sys, time
port, n, new, m, rcpt = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
base = len(os.listdir(new))
body = b"From: a@client.example\r\nTo: " + rcpt.encode() + b"\r\nSubject: cpu split\r\n\r\n" + (b"x" * 62 + b"\r\n") * 14
t0 = time.monotonic()
for i in range(0, n, m):
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.example", timeout=60)
    for _ in range(min(m, n - i)):
        s.sendmail("a@client.example", [rcpt], body)
    s.quit()
t1 = time.monotonic()
while len(os.listdir(new)) - base < n and time.monotonic() - t1 < 60:
    time.sleep(0.01)
t2 = time.monotonic()
ru = resource.getrusage(resource.RUSAGE_SELF)
print(f"{m} per connection: accepted {n} in {t1 - t0:.2f} s ({n / (t1 - t0):.1f} msg/s); all {len(os.listdir(new)) - base} in the Maildir after "
      f"{t2 - t0:.2f} s ({n / (t2 - t0):.1f} msg/s); client CPU {(ru.ru_utime + ru.ru_stime) * 1000 / n:.2f} ms/msg")
PY
# live delivery workers are counted once they have exited idle and been reaped
sleep $((${LOCALWORKERS:-0} + 1))
snap >"$W/after"
cat "$W/client"
echo "load average $(cut -d' ' -f1 /proc/loadavg); CPU per message (ms, user+system), own / reaped children; minor faults likewise:"
paste -d" " "$W/before" "$W/after" | awk -v n="$N" -v hz="$(getconf CLK_TCK)" '{
  own = ($7 - $2) * 1000 / hz / n; kids = ($8 - $3) * 1000 / hz / n; tot += own + kids
  printf "  %-14s %6.2f  %6.2f  faults %7.1f %7.1f\n", $1, own, kids, ($9 - $4) / n, ($10 - $5) / n }
  END { printf "  %-14s %6.2f  (all server-side processes)\n", "total", tot }'
