#!/usr/bin/env python3
# Start-up CPU of each program with a trivial job: user+system time from wait4 (children spawned
# with posix_spawn), medians of N runs, every command of a round run back to back (interleaved), in
# an order shuffled anew each round, so that the machine's load weighs on all sides alike. The
# yardstick is an empty program compiled by the same Bun with the same flags (scripts/build.ts
# --bare). Prints a markdown table. Compare fresh copies (cp -a) of both builds: a copy made an hour
# earlier took about 30 more page faults per start than a fresh copy of the same build.
#
#   python3 bench/startup-cpu.py [--runs N] [--before DIR] [--orig DIR] [--env K=V]... [--relay] [BIN_DIR]
#
# BIN_DIR: ours (default bin/); --before DIR: another build's bin/ for a before/after column (e.g. a
# copy of main's); --orig DIR: the C originals (default /usr/bin, Debian's daemontools and ucspi-tcp).
# --relay: each program of ours (and of --before) starts with the environment our exec and spawn give it
# (core/conf.ts: JSC_OPTIONS, and START_OPTIONS for a program that ends soon), as when one of ours starts
# it; the empty program then runs twice, with JSC_OPTIONS and with both, and a last column divides each
# program by the empty program started with the same options.
import argparse, json, os, random, statistics, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("bin", nargs="?", default="bin")
ap.add_argument("--runs", type=int, default=40)
ap.add_argument("--before")
ap.add_argument("--orig", default="/usr/bin")
ap.add_argument("--env", action="append", default=[], help="K=V added to every start, the empty program's too")
ap.add_argument("--relay", action="store_true", help="start each program with what our relay gives it")
a = ap.parse_args()
repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
bun = os.path.join(repo, "node_modules/.bin/bun")
ours = os.path.abspath(a.bin)

w = tempfile.mkdtemp(prefix="qts-startup-")
bare = os.path.join(w, "bare")
subprocess.run([bun, os.path.join(repo, "scripts/build.ts"), "--bare", bare], check=True)
home = os.path.join(w, "qmail")
os.makedirs(os.path.join(home, "control"))
for f, v in (("me", "test.example"), ("rcpthosts", "test.example")):
    open(os.path.join(home, "control", f), "w").write(v + "\n")
os.makedirs(os.path.join(w, "svc"))
os.makedirs(os.path.join(w, "env"))
open(os.path.join(w, "env", "X"), "w").write("y\n")
cdb = os.path.join(w, "r.cdb")
subprocess.run([os.path.join(ours, "tcprules"), cdb, cdb + ".tmp"], input=b"1.2.3.4:deny\n", check=True)
inputs = {
    "none": b"",
    "line": b"a\n",
    "quit": b"QUIT\r\n",
    "msg": b"From: a@client.example\nTo: u@test.example\nSubject: s\n\nhi\n",
}
for k, v in inputs.items():
    open(os.path.join(w, "in." + k), "wb").write(v)
env = {"PATH": "/usr/bin:/bin", "QMAILHOME": home, "TCPREMOTEIP": "1.2.3.4"}
env.update(kv.split("=", 1) for kv in a.env)

svc = os.path.join(w, "svc")
# (label, program, arguments, stdin, has a C original in --orig)
JOBS = [
    ("svok DIR", "svok", [svc], "none", True),
    ("svstat DIR", "svstat", [svc], "none", True),
    ("svc -u DIR", "svc", ["-u", svc], "none", True),
    ("tai64n < 1 line", "tai64n", [], "line", True),
    ("envdir DIR /bin/true", "envdir", [os.path.join(w, "env"), "/bin/true"], "none", True),
    ("setuidgid root /bin/true", "setuidgid", ["root", "/bin/true"], "none", True),
    ("multilog t e < 1 line", "multilog", ["t", "e"], "line", True),
    ("tcprulescheck CDB", "tcprulescheck", [cdb], "none", True),
    ("qmail-smtpd, a QUIT session", "qmail-smtpd", [], "quit", False),
    ("qmail-inject -n < message", "qmail-inject", ["-n"], "msg", False),
    ("qmail-local -n ... < message", "qmail-local", ["-n", "root", "/root", "root", "", "", "test.example", "a@b", "./Maildir/"], "msg", False),
    ("qmail-getpw root", "qmail-getpw", ["root"], "none", False),
]

# The relay's entries per program, from core/conf.ts itself: {prog: {K: V}}; "" is the empty program's.
relay = {}
if a.relay:
    progs = [j[1] for j in JOBS]
    code = (
        'import { JSC_OPTIONS, START_OPTIONS, endsSoon } from "./packages/core/src/conf.ts";'
        "const out = {};"
        f"for (const p of {progs!r}) out[p] = Object.fromEntries([...JSC_OPTIONS, ...(endsSoon([p]) ? START_OPTIONS : [])]);"
        'out[""] = Object.fromEntries(JSC_OPTIONS); out["+"] = Object.fromEntries([...JSC_OPTIONS, ...START_OPTIONS]);'
        "console.log(JSON.stringify(out));"
    )
    relay = json.loads(subprocess.run([bun, "-e", code], cwd=repo, capture_output=True, check=True, text=True).stdout)

# (side, label, path, args, stdin, extra environment)
cmds = [("bare", "empty program, same Bun, same flags", bare, [], "none", relay.get("", {}))]
if a.relay:
    cmds.append(("bare+", "empty program, with START_OPTIONS", bare, [], "none", relay["+"]))
for label, prog, args, inp, has_c in JOBS:
    cmds.append(("ours", label, os.path.join(ours, prog), args, inp, relay.get(prog, {})))
    if a.before:
        cmds.append(("before", label, os.path.join(os.path.abspath(a.before), prog), args, inp, relay.get(prog, {})))
    if has_c and os.path.exists(os.path.join(a.orig, prog)):
        cmds.append(("C", label, os.path.join(a.orig, prog), args, inp, {}))

devnull = os.open(os.devnull, os.O_WRONLY)


def once(path, args, inp, extra):
    fd = os.open(os.path.join(w, "in." + inp), os.O_RDONLY)
    pid = os.posix_spawn(
        path,
        [os.path.basename(path), *args],
        {**env, **extra},
        file_actions=[(os.POSIX_SPAWN_DUP2, fd, 0), (os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)],
    )
    os.close(fd)
    _, status, ru = os.wait4(pid, 0)
    return (ru.ru_utime + ru.ru_stime) * 1000, status


cpu = [[] for _ in cmds]
load0 = open("/proc/loadavg").read().split()[0]
t0 = time.strftime("%H:%M", time.gmtime())
for r in range(a.runs + 3):
    # A new order each round: in a fixed one, the same column always ran right after the same one, and
    # two fresh copies of one build differed by up to 0.12 of the empty program (helper "trim", 18:30).
    order = list(range(len(cmds)))
    random.Random(r).shuffle(order)
    for i in order:
        _side, _label, path, args, inp, extra = cmds[i]
        ms, status = once(path, args, inp, extra)
        if os.WIFSIGNALED(status):
            sys.exit(f"{path} {args}: killed by signal {os.WTERMSIG(status)}")
        if r >= 3:
            cpu[i].append(ms)
load1 = open("/proc/loadavg").read().split()[0]
med = [statistics.median(v) for v in cpu]
b = med[0]
print(f"{a.runs} interleaved runs, {t0}-{time.strftime('%H:%M', time.gmtime())} UTC, load {load0} at start, {load1} at end")
print()
cols = ["ours"] + (["before"] if a.before else []) + ["C"]
same = " ours ÷ bare with its options |" if a.relay else ""
print("| program and job | " + " | ".join(f"{c} CPU ms" for c in cols) + " | ours ÷ bare | " + ("before ÷ bare |" if a.before else "") + same)
print("|---|" + "---:|" * len(cols) + "---:|" + ("---:|" if a.before else "") + ("---:|" if a.relay else ""))
blank = " |" * (len(cols) - 1)
print(f"| {cmds[0][1]} | {b:.2f} |" + blank + " 1.00 |" + (" 1.00 |" if a.before else "") + (" 1.00 |" if a.relay else ""))
b2 = med[1] if a.relay else b
if a.relay:
    print(f"| {cmds[1][1]} | {b2:.2f} |" + blank + f" {b2 / b:.2f} |" + (" |" if a.before else "") + " 1.00 |")
for label, prog, *_ in JOBS:
    row = {side: med[i] for i, (side, lab, *_r) in enumerate(cmds) if lab == label}
    cells = [f"{row[c]:.2f}" if c in row else "-" for c in cols]
    line = f"| {label} | " + " | ".join(cells) + f" | {row['ours'] / b:.2f} |"
    if a.before:
        line += f" {row['before'] / b:.2f} |"
    if a.relay:
        line += f" {row['ours'] / (b2 if 'MIMALLOC_ALLOW_THP' in relay.get(prog, {}) else b):.2f} |"
    print(line)
subprocess.run(["rm", "-rf", w])
