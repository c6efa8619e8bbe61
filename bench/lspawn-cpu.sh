#!/bin/bash
# qmail-lspawn's own CPU per local delivery, without the rest of the tree: one queued message is handed
# to qmail-lspawn N times (qmail-send's side of the spawn protocol, in python, C deliveries in flight),
# each a real qmail-local run as the alias user into a Maildir. Prints qmail-lspawn's own user+system
# CPU per delivery after its start-up and its reaped children's (the qmail-local and qmail-getpw processes), from
# /proc/PID/stat once every report is in. Uses its own qmail home (bench/cpu-split.sh's recipient).
#   bash bench/lspawn-cpu.sh [N=300] [C=10]   (as root, after make; QTS=FILE: install FILE as bin/qts
#   instead of this tree's, to compare two builds on the same setup; ROUNDS=R: R runs in a row)
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO" || exit 1
N=${1:-300}
C=${2:-10}
W=$(mktemp -d /tmp/qts-lspawncpu.XXXXXX)
chmod 755 "$W"
H=$W/qmail
trap 'rm -rf "$W"' EXIT
node_modules/.bin/bun scripts/setup.ts --home "$H" >/dev/null 2>&1 || exit 111
[ -n "${QTS:-}" ] && cp "$QTS" "$H/bin/qts"
"$H/bin/config-fast" test.example >/dev/null
setpriv --reuid=alias --regid="$(id -g alias)" --clear-groups "$H/bin/maildirmake" "$H/alias/Maildir"
echo ./Maildir/ >"$H/alias/.qmail-prof"
chown alias "$H/alias/.qmail-prof"
printf '=prof:alias:%s:%s:%s/alias:-:prof:\n.\n' "$(id -u alias)" "$(id -g alias)" "$H" >"$H/users/assign"
(cd "$H" && "$H/bin/qmail-newu") || exit 111
# qmail-send is not running: the message stays in the queue for qmail-lspawn to read.
printf 'From: a@client.example\nTo: prof@test.example\nSubject: lspawn cpu\n\n%s\n' "$(head -c 900 /dev/zero | tr '\0' x)" |
  env - PATH="$H/bin:/usr/bin:/bin" "$H/bin/qmail-inject" -fa@client.example prof@test.example || exit 111
MESSID=$(cd "$H/queue/mess" && ls -d */* | head -1)
for _ in $(seq "${ROUNDS:-1}"); do
  python3 - "$H" "$MESSID" "$N" "$C" <<'PY'
import os, subprocess, sys, time
home, messid, n, c = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
p = subprocess.Popen([f"{home}/bin/qmail-lspawn", "./Maildir/"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     cwd="/", env={"PATH": f"{home}/bin:/usr/bin:/bin"})
out = p.stdout
assert len(out.read(1)) == 1  # the concurrency byte
def cpu():  # own and reaped children's user+system ticks
    f = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12]), int(f[13]) + int(f[14])
start = cpu()  # qmail-lspawn's start-up is not counted
cmd = lambda slot: bytes([slot]) + f"{messid}\0a@client.example\0prof@test.example\0".encode()
t0 = time.monotonic()
sent = 0
for slot in range(min(c, n)):
    p.stdin.write(cmd(slot)); sent += 1
p.stdin.flush()
done = 0
buf = b""
bad = 0
while done < n:
    d = os.read(out.fileno(), 65536)
    if not d:
        break
    buf += d
    while True:
        z = buf.find(b"\0", 1)
        if z < 0:
            break
        slot, rep = buf[0], buf[1:z]
        buf = buf[z + 1:]
        done += 1
        bad += not rep.startswith(b"K")
        if sent < n:
            p.stdin.write(cmd(slot)); sent += 1
    p.stdin.flush()
t1 = time.monotonic()
end = cpu()
hz = os.sysconf("SC_CLK_TCK")
own = (end[0] - start[0]) * 1000 / hz / n
kids = (end[1] - start[1]) * 1000 / hz / n
p.stdin.close()
p.wait(30)
load = open("/proc/loadavg").read().split()[0]
print(f"{done} deliveries ({bad} not K) in {t1 - t0:.2f} s ({done / (t1 - t0):.1f}/s), {c} in flight, load {load}: "
      f"qmail-lspawn {own:.2f} ms/delivery own, {kids:.2f} children")
PY
done
