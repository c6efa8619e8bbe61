#!/bin/bash
# Issue 17's throughput test, classic path against the fast paths, run back to back and interleaved
# (classic, fast, classic, fast ...): 500 messages of 1 KB to one local Maildir user, python smtplib
# clients, one message per connection, 1 and 10 concurrent clients, timed until the last file is in
# Maildir/new (shared/bench/qmail/bench_smtp.py); and qmail-inject into that Maildir, one at a time
# (bench_inject.py -p 1). The whole stack is ours: tcpserver (-c 40, uid qmaild) + qmail-smtpd, and
# qmail-start's tree with multilog.
#   classic: one qmail-smtpd per connection, one qmail-local per delivery (as qmail does)
#   fast:    QTS_PRESTART=P in tcpserver's environment, QTS_LOCALWORKERS=L in qmail-start's
#            (the service templates' settings, service/README.md)
#   bash bench/fastpath.sh   (as root, after make; creates qmail's users and the bench user, as
#   bench/run.sh does). Variables: N=500 ROUNDS=2 P=1 L=5 PORT=23270 NI=200 (messages injected)
#   ONLY=smtp1,smtp10,inject
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO" || exit 1
N=${N:-500}
NI=${NI:-200}
ROUNDS=${ROUNDS:-2}
P=${P:-1}
L=${L:-5}
PORT=${PORT:-23270}
ONLY=${ONLY:-smtp1,smtp10,inject}
Q=${SHARED_BENCH:-/work/shared/bench/qmail}
[ "$(id -u)" = 0 ] || { echo "fastpath.sh: run as root" >&2; exit 111; }
W=$(mktemp -d /tmp/qts-fastpath.XXXXXX)
chmod 755 "$W"
H=$W/qmail
SEND=
TS=
stop() {
  [ -n "$TS" ] && kill -TERM "$TS" 2>/dev/null
  [ -n "$SEND" ] && kill -TERM "$SEND" 2>/dev/null
  for _ in $(seq 1 100); do { [ -n "$SEND" ] && kill -0 "$SEND" 2>/dev/null; } || break; sleep 0.1; done
  TS= SEND=
}
trap 'stop; rm -rf "$W"' EXIT
node_modules/.bin/bun scripts/setup.ts --home "$H" >"$W/setup.log" 2>&1 || { cat "$W/setup.log"; exit 111; }
"$H/bin/config-fast" test.example >/dev/null
echo 10 >"$H/control/concurrencylocal"
id bench >/dev/null 2>&1 || useradd -m -d /home/bench -s /bin/sh bench || exit 111
BH=$(getent passwd bench | cut -d: -f6)
mkdir -p "$BH" && chown bench: "$BH"
[ -d "$BH/Maildir/new" ] || setpriv --reuid=bench --regid=bench --clear-groups "$H/bin/maildirmake" "$BH/Maildir"
echo "./Maildir/" >"$BH/.qmail" && chown bench: "$BH/.qmail" && chmod 644 "$BH/.qmail"
for a in postmaster root mailer-daemon; do echo "&bench" >"$H/alias/.qmail-$a"; done
mkdir -p "$W/log" && chown qmaill "$W/log"
export QROOT=$H MAILDIR=$BH/Maildir RCPT=bench@test.example SMTP_PORT=$PORT

start() { # mode
  local lw="" ps=""
  if [ "$1" = fast ]; then lw="QTS_LOCALWORKERS=$L" ps="QTS_PRESTART=$P"; fi
  (cd / && exec setsid env - PATH="$H/bin:/usr/bin:/bin" $lw qmail-start ./Maildir/ "$H/bin/multilog" t "$W/log") \
    </dev/null >/dev/null 2>&1 &
  SEND=$!
  setsid env $ps "$H/bin/tcpserver" -R -H -l0 -c 40 -u "$(id -u qmaild)" -g "$(getent group nofiles | cut -d: -f3)" \
    127.0.0.1 "$PORT" "$H/bin/qmail-smtpd" </dev/null >"$W/tcpserver.log" 2>&1 &
  TS=$!
  sleep 2
}
fig() { python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); print(f"{d.get(sys.argv[2], 0):.1f}")' "$1" "$2"; }

echo "fastpath.sh: N=$N NI=$NI ROUNDS=$ROUNDS P=$P L=$L; $(date -u +%H:%M) UTC; HEAD $(git rev-parse --short HEAD)"
printf '%-8s %-7s %-22s %10s %10s %6s\n' round mode test accepted/s e2e/s load
for r in $(seq 1 "$ROUNDS"); do
  for mode in classic fast; do
    start "$mode"
    for t in ${ONLY//,/ }; do
      out=$W/$mode-$t-$r.json
      case $t in
        smtp1) timeout 900 python3 "$Q/bench_smtp.py" -n "$N" -c 1 -m 1 --runs 1 >"$out" 2>>"$W/err" ;;
        smtp10) timeout 900 python3 "$Q/bench_smtp.py" -n "$N" -c 10 -m 1 --runs 1 >"$out" 2>>"$W/err" ;;
        inject) timeout 900 python3 "$Q/bench_inject.py" -n "$NI" -p 1 --runs 1 >"$out" 2>>"$W/err" ;;
      esac
      tr -d '\n' <"$out" >"$out.1" && echo >>"$out.1"
      if [ "$t" = inject ]; then a=$(fig "$out.1" median_inject_rate); e=$(fig "$out.1" median_e2e_rate)
      else a=$(fig "$out.1" median_accept_rate); e=$(fig "$out.1" median_e2e_rate); fi
      printf '%-8s %-7s %-22s %10s %10s %6s\n' "$r" "$mode" "$t" "$a" "$e" "$(cut -d' ' -f1 /proc/loadavg)"
    done
    stop
    sleep 1
  done
done
