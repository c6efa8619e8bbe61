#!/bin/bash
# make start: the whole service tree, self-contained under ./var, svscan in the
# foreground, SMTP on 127.0.0.1:2525. Ctrl-C stops everything it started.
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
BUN=$ROOT/node_modules/.bin/bun
VAR=$ROOT/var
H=$VAR/qmail
S=$VAR/service
L=$VAR/log
PORT=${PORT:-2525}
make -s all || exit 1

NAME=$(id -un)
say() { printf 'start: %s\n' "$*"; }
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
"$BUN" scripts/setup.ts --home "$H" "${IDS[@]}" --hardlink >/dev/null || exit 1
# A dotted name: qmail-inject appends defaultdomain to dotless hosts (localhost -> localhost.localhost).
if [ ! -s "$H/control/me" ]; then
  "$H/bin/config-fast" localhost.localdomain >/dev/null || exit 1
  echo localhost >> "$H/control/locals"
  echo localhost >> "$H/control/rcpthosts"
fi

# The invoking user's mailbox lives under ./var: users/assign maps NAME to var/home/NAME.
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
  printf '+:alias:%s:%s:%s:-::\n' "$ALIAS_UID" "$ALIAS_GID" "$H/alias"
  printf '.\n'
} > "$H/users/assign"
(cd "$H" && "$H/bin/qmail-newu") || exit 1
for a in root postmaster mailer-daemon; do
  [ "$a" = "$NAME" ] && continue
  [ -e "$H/alias/.qmail-$a" ] || { echo "&$NAME" > "$H/alias/.qmail-$a"; chmod 644 "$H/alias/.qmail-$a"; }
done

"$BUN" scripts/services.ts --home "$H" --service "$S" --files "$L" --ip 127.0.0.1 --port "$PORT" \
  --qmaild "$QMAILD" --qmaill "$QMAILL" "${SWITCH[@]}" ${CLASSIC:+--classic} || exit 1

cat <<EOT
start: qmail home $H, services $S, logs $L/{qmail,smtpd}/current
start: SMTP on 127.0.0.1:$PORT. Try:
         echo 'Subject: test 1' | $H/bin/sendmail root
         swaks --server 127.0.0.1:$PORT --to $NAME@localhost
       mail lands in $MHOME/Maildir/new/
start: svscan $S (Ctrl-C stops everything)
EOT

# svscan in its own session, so that Ctrl-C reaches only this script, which then stops the tree in order.
"$H/bin/pgrphack" "$H/bin/svscan" "$S" &
SVSCAN=$!
stop() {
  trap '' INT TERM
  say "stopping"
  "$H/bin/svc" -dx "$S"/* "$S"/*/log 2>/dev/null
  for _ in $(seq 100); do
    alive=0
    for d in "$S"/* "$S"/*/log; do "$H/bin/svok" "$d" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  kill "$SVSCAN" 2>/dev/null
  wait "$SVSCAN" 2>/dev/null
  # Anything left in svscan's session (a child that outlived its supervise) goes too, by pid.
  for p in $(ps -s "$SVSCAN" -o pid= 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done
  sleep 0.5
  for p in $(ps -s "$SVSCAN" -o pid= 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  say "stopped"
  exit 0
}
trap stop INT TERM
wait "$SVSCAN"
stop
