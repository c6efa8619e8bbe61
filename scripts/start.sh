#!/bin/bash
# make start: the whole service tree, self-contained under ./var, svscan in the
# foreground, SMTP on 127.0.0.1:2525 and [::1]:2525. Ctrl-C stops everything it started.
# Settings, from the environment or make's command line (README, "make start"):
#   PORT  the SMTP port on 127.0.0.1 and ::1 (2525)
#   VAR   where the tree lives (./var); one tree at a time per VAR
#   LOG   files (VAR/log/*/current, multilog) or console (this terminal, each line after its
#         service's name, as in a container)
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
BUN=$ROOT/node_modules/.bin/bun
VAR=${VAR:-$ROOT/var}
case $VAR in /*) ;; *) VAR=$ROOT/$VAR ;; esac
H=$VAR/qmail
S=$VAR/service
L=$VAR/log
PORT=${PORT:-2525}
SUBPORT=${SUBPORT:-2587}
SMTPSPORT=${SMTPSPORT:-2465}
make -s all || exit 1

NAME=$(id -un)
say() { printf 'start: %s\n' "$*"; }
die() { printf 'start: fatal: %s\n' "$*" >&2; exit 111; }

# One tree per VAR: the lock is held for as long as this script runs (not by the tree: fd 9 is
# closed for svscan). A second make start says so and leaves the running tree alone.
mkdir -p "$VAR" || die "unable to create $VAR"
exec 9>>"$VAR/start.lock"
if ! flock -n 9; then
  pid=$(cat "$VAR/start.pid" 2>/dev/null)
  die "a tree is already running under $VAR (make start, pid ${pid:-unknown}); Ctrl-C in its terminal, or kill -TERM ${pid:-PID}, stops it"
fi
echo $$ > "$VAR/start.pid"

# The SMTP port must be free before anything starts: tcpserver would fail once a second in its log.
inuse=$(PORTS="$PORT $SUBPORT $SMTPSPORT" "$BUN" -e '
const net = require("node:net");
const free = (host) => new Promise((ok) => {
  const s = net.createServer();
  s.once("error", (e) => ok(e.code === "EADDRNOTAVAIL" || e.code === "EAFNOSUPPORT" ? "" : `${host} (${e.code})`));
  s.listen(port, host, () => s.close(() => ok("")));
});
let port = 0;
(async () => {
  for (port of process.env.PORTS.split(" ").map(Number))
    for (const host of ["127.0.0.1", "::1"]) {
      const taken = await free(host);
      if (taken) { process.stdout.write(`${port} is not free on ${taken}`); process.exitCode = 1; return; }
    }
})();') ||
  die "port ${inuse:-$PORT is not free}: another server listens there; choose other ports: make start PORT=2526 SUBPORT=2588 SMTPSPORT=2466"
have_users() { for u in alias qmaild qmaill qmailp qmailq qmailr qmails; do id "$u" >/dev/null 2>&1 || return 1; done; }

# Who runs what. As root with qmail's users present (after make setup): the article's uids.
# Otherwise every qmail uid is mapped to one account, and we say so.
if [ "$(id -u)" -ne 0 ]; then
  IDS=(--ids-user "$NAME"); QMAILD=$NAME; QMAILL=$NAME; SWITCH=(--no-switch)
  say "not root: qmail's users (alias qmaild qmaill qmailp qmailq qmailr qmails) are all mapped to $NAME"
elif have_users; then
  IDS=(--no-users); QMAILD=qmaild; QMAILL=qmaill; SWITCH=()
else
  IDS=(--ids-user nobody); QMAILD=nobody; QMAILL=nobody; SWITCH=()
  say "qmail's users do not exist (make setup creates them): they are all mapped to nobody for this run"
fi

mkdir -p "$VAR" "$L"
# qmail's users must reach the tree: with a directory closed to others on the way (root's clone in
# /root, mode 700) the services could not run our programs, and a run script's PATH would fall
# through to whatever else is installed.
if [ "${#SWITCH[@]}" -eq 0 ]; then
  d=$VAR
  while [ "$d" != / ]; do
    case $(stat -c %A "$d") in
      *[xt]) ;;
      *) die "$d (mode $(stat -c %a "$d")) is closed to qmail's users, who must reach $VAR: choose a VAR they can reach (make start VAR=/var/tmp/qmail-ts), or run make start as an ordinary user" ;;
    esac
    d=$(dirname "$d")
  done
fi
# (setup's open-relay warning is not for us: rcpthosts is written just below)
"$BUN" scripts/setup.ts --home "$H" "${IDS[@]}" --hardlink 2> >(grep -v "an open relay" >&2) >/dev/null || exit 1
# A dotted name: qmail-inject appends defaultdomain to dotless hosts (localhost -> localhost.localhost).
if [ ! -s "$H/control/me" ]; then
  "$H/bin/config-fast" localhost.localdomain >/dev/null || exit 1
  echo localhost >> "$H/control/locals"
  echo localhost >> "$H/control/rcpthosts"
fi

# The invoking user's mailbox lives under ./var: users/assign maps NAME to var/home/NAME, and
# NAME-ext to the same home's .qmail-ext (qmail-users(5): a + entry with "-" as the dash).
# Mail for root, postmaster and mailer-daemon is forwarded there through ~alias, as in the article.
ALIAS_UID=$(sed -n "s/^user alias \([0-9]*\)$/\1/p" "$H/bin/.qmail-ids")
ALIAS_GID=$(sed -n "s/^group nofiles \([0-9]*\)$/\1/p" "$H/bin/.qmail-ids")
if [ "$(id -u)" -ne 0 ]; then MUID=$(id -u); MGID=$(id -g); else MUID=$ALIAS_UID; MGID=$ALIAS_GID; fi
MHOME=$VAR/home/$NAME
mkdir -p "$MHOME"
[ -d "$MHOME/Maildir" ] || "$H/bin/maildirmake" "$MHOME/Maildir" || exit 1
chmod 755 "$MHOME"
[ "$(id -u)" -eq 0 ] && chown -R "$MUID:$MGID" "$MHOME"
# Everything else goes to ~alias here (qmail-getpw would use the alias account's passwd home, outside ./var).
{
  printf '=%s:%s:%s:%s:%s:::\n' "$NAME" "$NAME" "$MUID" "$MGID" "$MHOME"
  printf '+%s-:%s:%s:%s:%s:-::\n' "$NAME" "$NAME" "$MUID" "$MGID" "$MHOME"
  printf '+:alias:%s:%s:%s:-::\n' "$ALIAS_UID" "$ALIAS_GID" "$H/alias"
  printf '.\n'
} > "$H/users/assign"
(cd "$H" && "$H/bin/qmail-newu") || exit 1
for a in root postmaster mailer-daemon; do
  [ "$a" = "$NAME" ] && continue
  [ -e "$H/alias/.qmail-$a" ] || { echo "&$NAME" > "$H/alias/.qmail-$a"; chmod 644 "$H/alias/.qmail-$a"; }
done

case ${LOG:-files} in
  files) LOGOPT=(--files "$L"); LOGWHERE="$L/{qmail,smtpd}/current" ;;
  console) LOGOPT=(--console); LOGWHERE="here, each line after its service's name" ;;
  *) die "LOG=$LOG: say files or console" ;;
esac
# ::1 too (service smtpd6) when the host has IPv6 loopback: /proc/net/if_inet6 lists it as 0...01.
IP6=(); SMTP6=; SVC6=()
if grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null; then
  IP6=(--ip6 ::1); SMTP6=" and [::1]:$PORT"; SVC6=("$S/smtpd6")
fi
# STARTTLS and submission (qmail-smtpd(8)): a self-signed certificate for localhost, made once with
# openssl(1); without openssl (a machine with only Node and npm) the tree runs without them.
CERT=$H/control/servercert.pem
SUB=()
if [ ! -s "$CERT" ] && command -v openssl >/dev/null 2>&1; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$CERT.key" -out "$VAR/localhost.crt" 2>/dev/null &&
    cat "$VAR/localhost.crt" "$CERT.key" > "$CERT" && chmod 640 "$CERT"
  rm -f "$CERT.key"
  [ -s "$CERT" ] && [ "$(id -u)" -eq 0 ] && chown "$QMAILD" "$CERT"
fi
if [ -s "$CERT" ]; then
  SUB=(--submission --submission-port "$SUBPORT" --smtps-port "$SMTPSPORT")
else
  say "no openssl: no certificate, so no STARTTLS, submission or SMTPS in this tree"
fi
"$BUN" scripts/services.ts --home "$H" --service "$S" "${LOGOPT[@]}" --ip 127.0.0.1 --port "$PORT" "${IP6[@]}" \
  --qmaild "$QMAILD" --qmaill "$QMAILL" "${SWITCH[@]}" "${SUB[@]}" ${CLASSIC:+--classic} || exit 1

# svscan in its own session, so that Ctrl-C reaches only this script, which then stops the tree in order.
# PATH starts with our bin: svscan finds supervise through it, and the run scripts find the rest,
# so the tree is ours even where Debian's daemontools and ucspi-tcp are installed.
PATH="$H/bin:$PATH" "$H/bin/pgrphack" "$H/bin/svscan" "$S" 9>&- &
SVSCAN=$!
stop() {
  trap '' INT TERM
  say "stopping"
  # svscan first (svscan(8), SIGNALS): its scan every 5 s starts a new supervise for each service
  # whose supervise svc -x has just ended, and with it the service. Under load, svc -dx and the
  # wait below spanned a scan and the tree came back up (the start test's Ctrl-C failures).
  kill "$SVSCAN" 2>/dev/null
  wait "$SVSCAN" 2>/dev/null
  "$H/bin/svc" -dx "$S"/* "$S"/*/log 2>/dev/null
  for _ in $(seq 100); do
    alive=0
    for d in "$S"/* "$S"/*/log; do "$H/bin/svok" "$d" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  # Anything left in svscan's session (a child that outlived its supervise) goes too, by pid.
  for p in $(ps -s "$SVSCAN" -o pid= 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done
  sleep 0.5
  for p in $(ps -s "$SVSCAN" -o pid= 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  say "stopped"
  exit "${1:-0}"
}
trap stop INT TERM

# Ready when every service says so (svwait -U: tcpserver once bound, multilog once its directory
# is locked; supervise(8), notification-fd), bounded (30 s: a loaded machine starts a dozen
# processes slowly); otherwise say why and stop.
ready=
AUTHD=(); [ "${#SUB[@]}" -gt 0 ] && AUTHD=("$S/authd")
for _ in $(seq 300); do
  kill -0 "$SVSCAN" 2>/dev/null || break
  if "$H/bin/svok" "$S/qmail" && "$H/bin/svok" "$S/smtpd" && "$H/bin/svok" "$S/smtpd/log" &&
    { [ "${#SVC6[@]}" -eq 0 ] || "$H/bin/svok" "${SVC6[0]}"; } &&
    { [ "${#AUTHD[@]}" -eq 0 ] || "$H/bin/svok" "${AUTHD[0]}"; }; then
    "$H/bin/svwait" -U -t 30000 "$S/qmail" "$S/smtpd" "$S/smtpd/log" "${SVC6[@]}" "${AUTHD[@]}" && ready=1
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  printf 'start: fatal: the services did not become ready (SMTP on 127.0.0.1:%s); the last lines of %s:\n' "$PORT" "$L/smtpd/current" >&2
  tail -n 5 "$L/smtpd/current" 2>/dev/null | "$H/bin/tai64nlocal" >&2
  stop 111
fi

cat <<EOT
start: qmail home $H, services $S, logs $LOGWHERE
start: SMTP on 127.0.0.1:$PORT$SMTP6. Try:
         echo 'Subject: test 1' | $H/bin/sendmail root
         swaks --server 127.0.0.1:$PORT --to $NAME@localhost
       mail lands in $MHOME/Maildir/new/
       $NAME-ext@localhost goes to $MHOME/.qmail-ext (put ./Maildir/ or &address there)
EOT
# SMTP AUTH (qmail-authd(8)): as root, qmail-authd checks any account's password but root's; as an
# ordinary user it runs as you and can check only your own, through PAM's unix_chkpwd.
if [ "$(id -u)" -eq 0 ]; then
  WHO="a system account's password (not root's), checked by qmail-authd"
elif [ -x /usr/sbin/unix_chkpwd ] || [ -x /sbin/unix_chkpwd ]; then
  WHO="your own password only ($NAME; qmail-authd runs as you and asks unix_chkpwd): other accounts get 454 unless make start runs as root"
else
  WHO="nothing: AUTH answers 454 (qmail-authd runs as you and cannot read /etc/shadow) unless make start runs as root"
fi
[ "${#SUB[@]}" -gt 0 ] && cat <<EOT
start: submission on 127.0.0.1:$SUBPORT (STARTTLS, then AUTH with $WHO),
       implicit TLS on 127.0.0.1:$SMTPSPORT. The certificate is self-signed:
       trust $VAR/localhost.crt, e.g.
         swaks --server 127.0.0.1:$SUBPORT --tls --tls-ca-path $VAR/localhost.crt --auth-user USER --to $NAME@localhost
         openssl s_client -starttls smtp -connect 127.0.0.1:$SUBPORT -CAfile $VAR/localhost.crt
EOT
say "svscan $S (Ctrl-C stops everything)"
wait "$SVSCAN"
stop
