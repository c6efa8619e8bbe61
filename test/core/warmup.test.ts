// SPDX-License-Identifier: MIT
// The runtime options relay (core/conf.ts JSC_OPTIONS, START_OPTIONS): our exec and spawn turn the
// runtime's warm-up and JIT worker threads off for a child that is our own binary, and mimalloc's huge
// pages on for one that ends soon; boot removes the variables again, so no environment anyone can see
// changes: not a program of ours, not a C program, not a run script.
import { describe, expect, test } from "bun:test";
import {
  chmodSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createConnection } from "node:net";
import { dirname, join } from "node:path";
import { endsSoon, withoutRelay, withRelay } from "../../packages/core/src/conf.ts";
import { BIN, kill, original, ours, run, start, tmp, waitFor } from "../lib/harness.ts";

const PATH = `${BIN}:/usr/bin:/bin`;
const W = "BUN_JSC_useWarmUpMarkedBlocks";
const J = "BUN_JSC_useConcurrentJIT";
const T = "MIMALLOC_ALLOW_THP";
/** What a child gets (supervise, tcpserver, qmail-smtpd, tai64n...). */
const RELAY = [`${W}=0`, `${J}=0`, `QTS_JSC=${W},${J}`];
/** What a child that ends soon gets (envdir, setuidgid, qmail-local...). */
const RELAY_SOON = [`${W}=0`, `${J}=0`, `${T}=1`, `QTS_JSC=${W},${J},${T}`];
/** Lines or entries that a relay would have left behind. */
const leftover = (lines: string[]) =>
  lines.filter((l) => l.startsWith("QTS_") || l.startsWith("BUN_JSC_") || l.startsWith("MIMALLOC_"));
/** Whether the kernel has transparent huge pages (madvise(MADV_HUGEPAGE) then marks a mapping "hg"). */
const THP = existsSync("/sys/kernel/mm/transparent_hugepage/enabled");

/** How many of pid's mappings carry the MADV_HUGEPAGE advice (VmFlags "hg", proc(5)). */
function hugeAdvised(pid: number): number {
  return readFileSync(`/proc/${pid}/smaps`, "latin1")
    .split("\n")
    .filter((l) => l.startsWith("VmFlags:") && / hg\b/.test(l)).length;
}

function environ(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").filter(Boolean);
  } catch {
    return [];
  }
}

/** pid's children, of every thread (a child spawned on a worker thread is listed under that thread). */
function children(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const t of require("node:fs").readdirSync(`/proc/${pid}/task`) as string[])
      for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").split(" ").filter(Boolean))
        out.push(Number(c));
  } catch {}
  return out;
}

function threads(pid: number): string[] {
  return require("node:fs")
    .readdirSync(`/proc/${pid}/task`)
    .map((t: string) => readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim());
}

function envDir(): string {
  const d = tmp("qts-warmup-");
  mkdirSync(join(d, "e"));
  writeFileSync(join(d, "e", "X"), "y\n");
  return d;
}

describe("the relay's entries", () => {
  test("added for our child unless the environment names them; dropped only as the mark lists them", () => {
    const up = ["supervise", "x"];
    expect(withRelay(["A=1"], up)).toEqual(["A=1", ...RELAY]);
    expect(withRelay([`${W}=1`, "A=1"], up)).toEqual([`${W}=1`, "A=1", `${J}=0`, `QTS_JSC=${J}`]);
    expect(withRelay([`${J}=1`, `${W}=1`], up)).toEqual([`${J}=1`, `${W}=1`]);
    expect(withRelay(["A=1"], ["/var/qmail/bin/qmail-local"])).toEqual(["A=1", ...RELAY_SOON]);
    expect(withRelay([`${T}=0`, `${J}=1`, `${W}=1`], ["envdir"])).toEqual([`${T}=0`, `${J}=1`, `${W}=1`]);
    const b = (s: string) => Buffer.from(s);
    const raw = [b("A=1"), b("QTS_NOFILE=20"), ...RELAY_SOON.map(b), b("QTS_JSCX=2")];
    expect(withoutRelay(raw).map(String)).toEqual(["A=1", "QTS_JSCX=2"]);
    expect(withoutRelay([`${T}=1`, `QTS_JSC=${W}`, `${W}=0`])).toEqual([`${T}=1`]);
    // What the mark does not list is the user's own, and stays; a mark names nothing but JSC_OPTIONS.
    expect(withoutRelay([b(`${W}=0`), b(`${J}=1`), b(`QTS_JSC=${J}`), b("QTS_NOFILEX=1")]).map(String)).toEqual([
      `${W}=0`,
      "QTS_NOFILEX=1",
    ]);
    expect(withoutRelay(["QTS_JSC=PATH,HOME", "PATH=/bin", "HOME=/"])).toEqual(["PATH=/bin", "HOME=/"]);
    expect(withoutRelay([`QTS_JSC=${W},${J}`, `${J}=0`, "B=2", `${W}=0`])).toEqual(["B=2"]);
  });
});

describe("which child ends soon", () => {
  test("by the program the multicall binary runs: its name, or the word after qts; -W alone is a worker", () => {
    for (const argv of [
      ["envdir", "e", "tcpserver"],
      ["/var/qmail/bin/qmail-local", "--", "u", "/h", "u", "", "", "d", "a@b", "./Maildir/"],
      ["qts", "qmail-inject", "-n"],
      [Buffer.from("/usr/sbin/sendmail"), "-t"],
      ["qmail-getpw", "-W", "x"],
      ["qmail-getpw", "-w"],
    ])
      expect(endsSoon(argv)).toBe(true);
    for (const argv of [
      ["supervise", "a"],
      ["/var/qmail/bin/qmail-send"],
      ["qts", "tcpserver", "-v"],
      ["/var/qmail/bin/qmail-smtpd"],
      ["qmail-remote", "h", "s", "r"],
      ["tai64n"],
      ["bin/qmail-local", "-W"],
      ["qts", "qmail-getpw", "-W"],
      ["envdir.sh"],
      [],
    ])
      expect(endsSoon(argv)).toBe(false);
  });
});

describe("exec (pathexec)", () => {
  test("our child gets the option; what it hands on is the environment as given, as the originals' chain", async () => {
    const d = envDir();
    const env = { PATH, A: "1" };
    const o = await run(ours("envdir"), [join(d, "e"), "envdir", join(d, "e"), "/usr/bin/env"], {
      env,
      extendEnv: false,
    });
    expect(o.code).toBe(0);
    expect(leftover(o.stdout.split("\n"))).toEqual([]);
    const c = original("envdir");
    if (c) {
      const r = await run(c, [join(d, "e"), c, join(d, "e"), "/usr/bin/env"], { env, extendEnv: false });
      expect(o.stdout).toBe(r.stdout);
    }
  });

  test("an option as the user set it goes through unchanged, and no mark with it", async () => {
    const d = envDir();
    for (const v of ["0", "1"]) {
      const r = await run(ours("envdir"), [join(d, "e"), "setuidgid", "root", "/usr/bin/env"], {
        env: { PATH, [W]: v },
        extendEnv: false,
      });
      expect(leftover(r.stdout.split("\n"))).toEqual([`${W}=${v}`]);
    }
  });

  test("a program of ours started by ours runs with it", async () => {
    const d = envDir();
    const p = start(ours("envdir"), [join(d, "e"), "tai64n"], { env: { PATH }, extendEnv: false, stdin: "pipe" });
    try {
      // The same pid once envdir has exec'd tai64n.
      const e = await waitFor(() => {
        const x = environ(p.pid);
        return x.includes("X=y") ? x : undefined;
      });
      expect(leftover(e ?? []).filter((l) => !l.startsWith("QTS_NOFILE="))).toEqual(RELAY);
      // A filter on a pipe may stay up: no huge pages (START_OPTIONS).
      expect(hugeAdvised(p.pid)).toBe(0);
      // tai64n itself sees none of it: its own child would not get it either (no exec here; boot removed it).
      await p.write("a\n");
      expect(await p.until("a\n")).toMatch(/^@[0-9a-f]{24} a\n$/);
      // The options at work: after the same 20,000 lines, which a start from outside compiles on a JIT
      // worker thread, no JIT worker and no warm-up thread here. (Both past their first 200 ms, when
      // core/run.ts gives a program still running the normal tier-up policy back.)
      const plain = start(ours("tai64n"), [], { env: { PATH }, extendEnv: false, stdin: "pipe" });
      try {
        await plain.write("b\n");
        await plain.until("b\n");
        await Bun.sleep(400);
        for (const t of [p, plain]) {
          await t.write(`${"x\n".repeat(19_999)}end\n`);
          await t.until(" end\n", 30_000);
        }
        expect(await waitFor(() => threads(plain.pid).includes("JITWorker"), 10_000)).toBe(true);
        // Started from outside: Bun's own setting, no huge pages.
        expect(hugeAdvised(plain.pid)).toBe(0);
        expect(threads(p.pid).filter((t) => t === "JITWorker" || t === "JSCWarmUp")).toEqual([]);
      } finally {
        plain.kill();
      }
    } finally {
      p.kill();
    }
  });
  test("a program that ends soon also gets mimalloc's huge pages; one started from outside does not", async () => {
    const d = envDir();
    // envdir execs preline (ours, one of ENDS_SOON), which waits for its sleep.
    const env = { PATH, UFLINE: "", RPLINE: "", DTLINE: "" };
    const p = start(ours("envdir"), [join(d, "e"), "preline", "sleep", "30"], { env, extendEnv: false });
    const kids: number[] = [];
    try {
      const e = await waitFor(() => {
        const x = environ(p.pid);
        return x.includes("X=y") ? x : undefined;
      });
      expect(leftover(e ?? []).filter((l) => !l.startsWith("QTS_NOFILE="))).toEqual(RELAY_SOON);
      kids.push(...((await waitFor(() => (children(p.pid).length ? children(p.pid) : undefined))) ?? []));
      expect(kids.length).toBe(1);
      // sleep, not ours, sees none of it.
      expect(leftover(environ(kids[0] as number))).toEqual([]);
      // mimalloc marked its arena MADV_HUGEPAGE (smaps's "hg"): preline's, not a plain preline's.
      if (THP) expect(hugeAdvised(p.pid)).toBeGreaterThan(0);
      const plain = start(ours("preline"), ["sleep", "30"], { env, extendEnv: false });
      try {
        const k = await waitFor(() => (children(plain.pid).length ? children(plain.pid) : undefined));
        kids.push(...(k ?? []));
        expect(hugeAdvised(plain.pid)).toBe(0);
      } finally {
        plain.kill();
      }
    } finally {
      p.kill();
      for (const k of kids) kill(k);
    }
  });

  test("a hard link to our binary is ours too (setup --hardlink, make start): its program gets the relays", async () => {
    const real = realpathSync(ours("qts"));
    // Beside the binary, so that the link is on its filesystem.
    const d = mkdtempSync(join(dirname(real), ".qts-warmup-"));
    try {
      linkSync(real, join(d, "qts"));
      symlinkSync("qts", join(d, "tai64n"));
      const p = start(ours("softlimit"), ["-o", "40", join(d, "tai64n")], {
        env: { PATH },
        extendEnv: false,
        stdin: "pipe",
      });
      try {
        const e = await waitFor(() => {
          const x = environ(p.pid);
          return x.some((v) => v.startsWith("QTS_NOFILE=")) ? x : undefined;
        });
        expect(e).toEqual(expect.arrayContaining([...RELAY, "QTS_NOFILE=40"]));
        // Once its boot has put the relayed soft limit back.
        const lim = () => /Max open files\s+40\s/.test(readFileSync(`/proc/${p.pid}/limits`, "utf8"));
        expect(await waitFor(lim)).toBe(true);
      } finally {
        p.kill();
      }
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe("spawn (posix_spawn)", () => {
  test("svscan's supervise runs with it; the run script's environment has none of it", async () => {
    const d = tmp("qts-warmup-");
    const svc = join(d, "s", "a");
    mkdirSync(svc, { recursive: true });
    const out = join(d, "env.out");
    writeFileSync(join(svc, "run"), `#!/bin/sh\nenv > ${out}.tmp && mv ${out}.tmp ${out}\nexec sleep 60\n`);
    chmodSync(join(svc, "run"), 0o755);
    const s = start(ours("svscan"), [join(d, "s")], { env: { PATH, A: "1" }, extendEnv: false });
    const pids: number[] = [];
    try {
      expect(await waitFor(() => existsSync(out), 15_000)).toBe(true);
      const sup = children(s.pid);
      pids.push(...sup, ...sup.flatMap(children));
      expect(sup.length).toBe(1);
      expect(readFileSync(`/proc/${sup[0]}/exe`.replace("/exe", "/cmdline"), "latin1").split("\0")[0]).toBe(
        "supervise",
      );
      // supervise stays up: the options of every child of ours, and not the huge pages.
      expect(leftover(environ(sup[0] as number))).toEqual(RELAY);
      expect(hugeAdvised(sup[0] as number)).toBe(0);
      const text = readFileSync(out, "utf8");
      expect(leftover(text.split("\n"))).toEqual([]);
      expect(text).toContain("A=1\n");
      // svscan itself was started by the test, not by ours: nothing was added to its environment.
      expect(leftover(environ(s.pid))).toEqual([]);
    } finally {
      s.kill();
      for (const p of pids) kill(p);
    }
  });

  test("tcpserver's child of ours runs with it (spawned on a pool thread); a C child sees none of it", async () => {
    const d = envDir();
    const env = { PATH };
    // -1 prints the port it listens on (0: one the kernel picks).
    const a = start(ours("tcpserver"), ["-q", "-1", "127.0.0.1", "0", "tai64n"], { env, extendEnv: false });
    const b = start(ours("tcpserver"), ["-q", "-1", "127.0.0.1", "0", "envdir", join(d, "e"), "sh", "-c", "env"], {
      env,
      extendEnv: false,
    });
    const p1 = Number((await a.until("\n", 15_000)).trim());
    const p2 = Number((await b.until("\n", 15_000)).trim());
    const conns: ReturnType<typeof createConnection>[] = [];
    const talk = (port: number, send: string) => {
      let got = "";
      const c = createConnection(port, "127.0.0.1", () => c.write(send));
      c.on("data", (x) => {
        got += x.toString();
      });
      c.on("error", () => {});
      conns.push(c);
      return () => got;
    };
    try {
      const one = talk(p1, "x\n");
      expect(await waitFor(() => one().endsWith(" x\n"), 15_000)).toBe(true);
      const kids = children(a.pid);
      expect(kids.length).toBe(1);
      expect(leftover(environ(kids[0] as number))).toEqual(RELAY);
      // envdir (ours) got it from tcpserver; the sh it exec'd (not ours) did not.
      const two = talk(p2, "");
      expect(await waitFor(() => one() && two().includes("TCPREMOTEPORT="), 15_000)).toBe(true);
      await waitFor(() => conns[1]?.readableEnded || two().endsWith("\n"), 2000);
      expect(two()).toContain("X=y\n");
      expect(leftover(two().split("\n"))).toEqual([]);
    } finally {
      for (const c of conns) c.destroy();
      a.kill();
      b.kill();
    }
  });

  test("a spawned child of ours that ends soon also gets the huge pages (tai64n, above, does not)", async () => {
    // preline (one of ENDS_SOON) waits for its sleep while we look.
    const env = { PATH, UFLINE: "", RPLINE: "", DTLINE: "" };
    const a = start(ours("tcpserver"), ["-q", "-1", "127.0.0.1", "0", "preline", "sleep", "30"], {
      env,
      extendEnv: false,
    });
    const port = Number((await a.until("\n", 15_000)).trim());
    const c = createConnection(port, "127.0.0.1");
    c.on("error", () => {});
    const pids: number[] = [];
    try {
      const kid = await waitFor(() => children(a.pid)[0], 15_000);
      pids.push(kid as number);
      const e = await waitFor(() => {
        const x = environ(kid as number);
        return x.includes("UFLINE=") ? x : undefined;
      });
      expect(leftover(e ?? [])).toEqual(RELAY_SOON);
      const sleep = await waitFor(() => children(kid as number)[0]);
      pids.push(sleep as number);
      if (THP) expect(hugeAdvised(kid as number)).toBeGreaterThan(0);
    } finally {
      c.destroy();
      for (const p of pids.reverse()) kill(p);
      a.kill();
    }
  });
});
