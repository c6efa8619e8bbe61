// SPDX-License-Identifier: MIT
// packages/sys: each libc call, and each trap its comments name, with a
// test that fails without its fix (the "raw" runs show the trap itself).
import { describe, expect, test } from "bun:test";
import { closeSync, fstatSync, lstatSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { errorStr, SysError } from "@qts/core/errstr";
import { closeOnExec, dupCloseOnExec, inheritFd, isCloseOnExec } from "@qts/sys/exec";
import { mkfifo } from "@qts/sys/fifo";
import { peercred } from "@qts/sys/peercred";
import { pipe } from "@qts/sys/pipe";
import { getgrgid, getgrnam, getgrouplist, getpwnam, getpwuid } from "@qts/sys/pwd";
import { getrlimit, prepareSetrlimit, RLIMIT } from "@qts/sys/rlimit";
import { socketpair } from "@qts/sys/socketpair";
import { UnixDgram } from "@qts/sys/unixdgram";
import { ROOT, run, start, tmp } from "../lib/harness.ts";

const BUN = join(ROOT, "node_modules/.bin/bun");
const FIX = join(import.meta.dir, "fixtures");

function sigIgn(status: string): bigint {
  const m = /SigIgn:\s*([0-9a-f]+)/.exec(status);
  return BigInt(`0x${m?.[1] ?? "0"}`);
}
const bit = (sig: number) => 1n << BigInt(sig - 1);

describe("prepareExec + pathexec", () => {
  const show = "grep -E '^Sig(Ign|Blk)' /proc/self/status; grep ^flags /proc/self/fdinfo/0";

  test("trap: without prepareExec a Bun exec leaves SIGPIPE/SIGXFSZ ignored and stdin non-blocking", async () => {
    const r = await run(BUN, [join(FIX, "exec.ts"), "raw", "-", "/bin/sh", "-c", show], { stdin: "pipe" });
    expect(r.code).toBe(0);
    const ign = sigIgn(r.stdout);
    expect(ign & bit(13)).toBe(bit(13));
    expect(ign & bit(25)).toBe(bit(25));
    const flags = Number.parseInt(/flags:\s*(\d+)/.exec(r.stdout)?.[1] ?? "0", 8);
    expect(flags & 0o4000).toBe(0o4000);
  });

  test("with prepareExec: SIGPIPE and SIGXFSZ default, stdin blocking, nothing blocked", async () => {
    const r = await run(BUN, [join(FIX, "exec.ts"), "prepare", "-", "/bin/sh", "-c", show], { stdin: "pipe" });
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith("before exec\n")).toBe(true);
    const ign = sigIgn(r.stdout);
    expect(ign & (bit(13) | bit(25))).toBe(0n);
    expect(/SigBlk:\s*0+\n/.test(r.stdout)).toBe(true);
    const flags = Number.parseInt(/flags:\s*(\d+)/.exec(r.stdout)?.[1] ?? "0", 8);
    expect(flags & 0o4000).toBe(0);
  });

  test("same pid across exec, and output written before exec is not lost", async () => {
    const r = await run(BUN, [join(FIX, "exec.ts"), "prepare", "-", "/bin/sh", "-c", "echo after"]);
    expect(r).toMatchObject({ code: 0, stdout: "before exec\nafter\n" });
  });

  test("a kept fd survives exec; Bun's own fds are close-on-exec (trap)", async () => {
    const d = tmp();
    const f = join(d, "keep");
    writeFileSync(f, "kept content");
    const cmd = 'for f in /proc/self/fd/*; do readlink "$f"; done';
    const kept = await run(BUN, [join(FIX, "exec.ts"), "prepare", f, "/bin/sh", "-c", cmd]);
    expect(kept.stdout).toContain(f);
    const raw = await run(BUN, [join(FIX, "exec.ts"), "raw", f, "/bin/sh", "-c", cmd]);
    expect(raw.stdout).not.toContain(`${f}\n`);
  });

  test("PATH search as pathexec_run: skips ENOENT, reports the remembered EACCES", async () => {
    const d = tmp();
    writeFileSync(join(d, "noexec"), "#!/bin/sh\n", { mode: 0o644 });
    const r = await run(BUN, [join(FIX, "exec.ts"), "prepare", "-", "noexec"], {
      env: { PATH: `/nonexistent:${d}` },
      extendEnv: false,
    });
    expect(r.stderr).toBe("exec failed: access denied\n");
    const r2 = await run(BUN, [join(FIX, "exec.ts"), "prepare", "-", "nosuchprog"], {
      env: { PATH: `/nonexistent:${d}` },
      extendEnv: false,
    });
    expect(r2.stderr).toBe("exec failed: file does not exist\n");
    const r3 = await run(BUN, [join(FIX, "exec.ts"), "prepare", "-", "echo", "hi"], {
      env: { PATH: "/nonexistent:/bin" },
      extendEnv: false,
    });
    expect(r3.stdout).toBe("before exec\nhi\n");
  });
});

describe("rlimit", () => {
  test("getrlimit/setrlimit: the limit set is the one an exec'd program sees", async () => {
    const r = await run(BUN, [join(FIX, "rlimit.ts")]);
    expect(r).toMatchObject({ code: 0, stdout: "soft 50 hardkept true\n50\n" });
  });

  test("trap: Bun raises the soft NOFILE limit at start-up", async () => {
    const r = await run("/bin/sh", [
      "-c",
      `ulimit -Sn 64; exec ${BUN} -e 'console.log(require("fs").readFileSync("/proc/self/limits","utf8").match(/open files +(\\d+)/)[1])'`,
    ]);
    expect(Number(r.stdout.trim())).toBeGreaterThan(64);
  });

  test("QTS_NOFILE puts the intended soft limit back in our programs", async () => {
    const hard = getrlimit(RLIMIT.NOFILE).hard;
    expect(hard).toBeGreaterThan(64n);
    const r = await run("/bin/sh", ["-c", `ulimit -Sn 64; exec ${join(ROOT, "bin/qts")} svok`], {
      env: { QTS_NOFILE: "37" },
    });
    // svok without a dir prints its usage; the relay is exercised before main.
    expect(r.code).toBe(100);
  });

  test("a prepared setrlimit still sets what it was given after a garbage collection (softlimit runs one)", () => {
    const before = getrlimit(RLIMIT.CORE);
    const want = { soft: before.hard < 6320640n ? before.hard : 6320640n, hard: before.hard };
    const sets: (() => number)[] = [];
    for (let i = 0; i < 50; i++) sets.push(prepareSetrlimit(RLIMIT.CORE, want));
    Bun.gc(true);
    // Memory freed by the collection is handed out again, holding 7s: a struct not kept alive shows them.
    const junk: BigUint64Array[] = [];
    for (let i = 0; i < 20000; i++) junk.push(new BigUint64Array([7n, 7n]));
    try {
      for (const set of sets) {
        expect(set()).toBe(0);
        expect(getrlimit(RLIMIT.CORE)).toEqual(want);
      }
    } finally {
      prepareSetrlimit(RLIMIT.CORE, before)();
    }
    expect(junk.length).toBe(20000);
  });
});

describe("mkfifo", () => {
  test("creates a FIFO with the mode; EEXIST in DJB wording", () => {
    const d = tmp();
    const p = join(d, "fifo");
    mkfifo(p, 0o600);
    const st = lstatSync(p);
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    let err: unknown;
    try {
      mkfifo(p, 0o600);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SysError);
    expect(errorStr(err)).toBe("file already exists");
  });
});

describe("flock", () => {
  test("a second process cannot take the lock: temporary failure", async () => {
    const d = tmp();
    const lock = join(d, "lock");
    const holder = start(BUN, [join(FIX, "flock.ts"), lock], { stdin: "pipe", stdout: "pipe" });
    try {
      expect(await holder.until("\n")).toBe("locked\n");
      const r = await run(BUN, [join(FIX, "flock.ts"), lock], { stdin: "ignore" });
      expect(r).toMatchObject({ code: 1, stdout: "failed: temporary failure\n" });
    } finally {
      holder.end();
      await Promise.race([holder.exited, Bun.sleep(3000)]);
      holder.kill();
    }
    const again = await run(BUN, [join(FIX, "flock.ts"), lock], { stdin: "ignore" });
    expect(again.stdout).toBe("locked\n");
  });
});

describe("passwd and group through NSS", () => {
  test("getpwnam/getpwuid root", () => {
    const pw = getpwnam("root");
    expect(pw).toMatchObject({ name: "root", uid: 0, gid: 0, dir: "/root" });
    expect(getpwuid(0)?.name).toBe("root");
  });
  test("unknown user is undefined", () => {
    expect(getpwnam("no-such-user-qts")).toBeUndefined();
  });
  test("getgrnam/getgrgid and getgrouplist agree with /etc/group", () => {
    const g = getgrnam("root");
    expect(g?.gid).toBe(0);
    expect(getgrgid(0)?.name).toBe("root");
    expect(getgrnam("no-such-group-qts")).toBeUndefined();
    const nobody = getpwnam("nobody");
    if (nobody) expect(getgrouplist("nobody", nobody.gid)[0]).toBe(nobody.gid);
    const lines = readFileSync("/etc/group", "utf8").split("\n");
    const withRoot = lines
      .filter((l) => l.split(":")[3]?.split(",").includes("root"))
      .map((l) => Number(l.split(":")[2]));
    expect(getgrouplist("root", 0).sort()).toEqual([0, ...withRoot].sort());
  });
});

describe("process name and title", () => {
  test("prctl name shows in /proc/PID/comm; the argv rewrite shows in cmdline", async () => {
    const title = "readproctitle service errors: ..........";
    const p = start(BUN, [join(FIX, "procname.ts"), "qmail-send", title, ".".repeat(200)], { stdout: "pipe" });
    try {
      const first = await p.until("\n");
      expect(first.startsWith("ready ")).toBe(true);
      expect(readFileSync(`/proc/${p.pid}/comm`, "utf8")).toBe("qmail-send\n");
      const cmdline = readFileSync(`/proc/${p.pid}/cmdline`, "latin1");
      expect(cmdline.startsWith(title)).toBe(true);
      const ps = await run("ps", ["-o", "comm=,args=", "-p", String(p.pid)]);
      expect(ps.stdout.startsWith("qmail-send")).toBe(true);
      expect(ps.stdout).toContain(title);
    } finally {
      p.kill("SIGTERM");
      await Promise.race([p.exited, Bun.sleep(3000)]);
      p.kill();
    }
  });

  test("a program of bin/ shows its own name, never bun", async () => {
    // svok blocks on nothing, so look at it through a FIFO-less path: run it under strace-free sh exec.
    const r = await run("/bin/sh", ["-c", `${join(ROOT, "bin/svok")} /nonexist; cat /proc/self/comm`]);
    expect(r.stdout).toBe("cat\n");
    const st = await run(join(ROOT, "bin/qts"), ["svok"]);
    expect(st.stderr).toBe("svok: usage: svok dir\n");
  });
});

describe("pipe, socketpair, SO_PEERCRED", () => {
  test("pipe2 carries bytes one way", () => {
    const [r, w] = pipe();
    require("node:fs").writeSync(w, "abc");
    const b = Buffer.alloc(3);
    expect(require("node:fs").readSync(r, b)).toBe(3);
    expect(b.toString()).toBe("abc");
    closeSync(r);
    closeSync(w);
  });
  test("peercred on a socketpair names this process", () => {
    const [a, b] = socketpair();
    const c = peercred(a);
    expect(c).toEqual({ pid: process.pid, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });
    closeSync(a);
    closeSync(b);
  });
});

describe("unix datagram socket", () => {
  test("sends a datagram a python reader receives intact", async () => {
    const d = tmp();
    const sock = join(d, "log");
    const py = start(
      "python3",
      [
        "-c",
        "import socket,sys;s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM);s.bind(sys.argv[1]);print('ready',flush=True);s.settimeout(5);print(repr(s.recv(4096)),flush=True)",
        sock,
      ],
      { stdout: "pipe" },
    );
    try {
      expect(await py.until("ready\n", 5000)).toBe("ready\n");
      const u = new UnixDgram(sock);
      u.send("<22>qmail: 1234.5678 hello\x01");
      u.close();
      // what came after the ready line
      const out = (await py.until(/^ready\n.*\n/s, 5000)).slice("ready\n".length);
      expect(out).toBe("b'<22>qmail: 1234.5678 hello\\x01'\n");
    } finally {
      py.kill();
    }
  });
  test("connect to a missing socket fails with the errno", () => {
    let err: unknown;
    try {
      new UnixDgram("/nonexistent/log");
    } catch (e) {
      err = e;
    }
    expect(errorStr(err)).toBe("file does not exist");
  });
});

test("setsid in a child makes it a session leader", async () => {
  const r = await run(
    BUN,
    ["-e", 'const {setsid}=await import("@qts/sys/setsid"); const s=setsid(); console.log(s===process.pid)'],
    { cwd: ROOT },
  );
  expect(r.stdout).toBe("true\n");
});

test("sigDefault resets glibc's internal signals that GNU make leaves ignored", async () => {
  const d = tmp();
  const mk = join(d, "Makefile");
  writeFileSync(
    mk,
    `x:\n\t@grep SigIgn /proc/self/status\n\t@${BUN} -e 'const {sigDefault}=await import("@qts/sys/sigdefault"); sigDefault(32); sigDefault(33); const {execaSync}=await import("execa"); execaSync("grep",["SigIgn","/proc/self/status"],{stdio:"inherit"})'\n`,
  );
  const r = await run("make", ["-s", "-f", mk], { cwd: ROOT });
  const [before, after] = r.stdout.split("\n");
  expect(sigIgn(before ?? "") & (bit(32) | bit(33))).toBe(bit(32) | bit(33));
  expect(sigIgn(after ?? "") & (bit(32) | bit(33))).toBe(0n);
});

describe("dupCloseOnExec", () => {
  test("a new fd for the same open file, close-on-exec from the start; the original's flag unchanged", () => {
    const f = join(tmp("qts-dupcloexec-"), "f");
    writeFileSync(f, "x");
    const fd = openSync(f, "r");
    try {
      expect(isCloseOnExec(fd)).toBe(true); // Bun opens close-on-exec
      inheritFd(fd);
      expect(isCloseOnExec(fd)).toBe(false);
      const d = dupCloseOnExec(fd);
      try {
        expect(d).not.toBe(fd);
        expect(isCloseOnExec(d)).toBe(true);
        expect(isCloseOnExec(fd)).toBe(false);
        expect(fstatSync(d).ino).toBe(fstatSync(fd).ino);
      } finally {
        closeSync(d);
      }
      closeOnExec(fd);
      expect(isCloseOnExec(fd)).toBe(true);
      expect(() => dupCloseOnExec(-1)).toThrow("fcntl: file descriptor not open");
    } finally {
      closeSync(fd);
    }
  });
});
