// SPDX-License-Identifier: MIT
// The JSCWarmUp relay (core/conf.ts): our exec and spawn turn the runtime's warm-up thread off for a
// child that is our own binary; boot removes the variable again, so no environment anyone can see
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
import { warmUpOff, withoutRelay } from "../../packages/core/src/conf.ts";
import { BIN, kill, original, ours, run, start, tmp, waitFor } from "../lib/harness.ts";

const PATH = `${BIN}:/usr/bin:/bin`;
const RELAY = ["BUN_JSC_useWarmUpMarkedBlocks=0", "QTS_WARMUP=1"];

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

function envDir(): string {
  const d = tmp("qts-warmup-");
  mkdirSync(join(d, "e"));
  writeFileSync(join(d, "e", "X"), "y\n");
  return d;
}

describe("the relay's entries", () => {
  test("added for our child unless the environment names the option; dropped only with the mark", () => {
    expect(warmUpOff(["A=1"])).toEqual(["A=1", ...RELAY]);
    expect(warmUpOff(["BUN_JSC_useWarmUpMarkedBlocks=1", "A=1"])).toEqual(["BUN_JSC_useWarmUpMarkedBlocks=1", "A=1"]);
    const b = (s: string) => Buffer.from(s);
    const raw = [
      b("A=1"),
      b("QTS_NOFILE=20"),
      b("BUN_JSC_useWarmUpMarkedBlocks=0"),
      b("QTS_WARMUP=1"),
      b("QTS_WARMUPX=2"),
    ];
    expect(withoutRelay(raw).map(String)).toEqual(["A=1", "QTS_WARMUPX=2"]);
    // Without the mark the option is the user's own, and stays.
    expect(withoutRelay([b("BUN_JSC_useWarmUpMarkedBlocks=0"), b("QTS_NOFILEX=1")]).map(String)).toEqual([
      "BUN_JSC_useWarmUpMarkedBlocks=0",
      "QTS_NOFILEX=1",
    ]);
    expect(withoutRelay(["QTS_WARMUP=1", "BUN_JSC_useWarmUpMarkedBlocks=0", "B=2"])).toEqual(["B=2"]);
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
    expect(o.stdout).not.toContain("WARMUP");
    expect(o.stdout).not.toContain("QTS_");
    const c = original("envdir");
    if (c) {
      const r = await run(c, [join(d, "e"), c, join(d, "e"), "/usr/bin/env"], { env, extendEnv: false });
      expect(o.stdout).toBe(r.stdout);
    }
  });

  test("the option as the user set it goes through unchanged, and no mark with it", async () => {
    const d = envDir();
    for (const v of ["0", "1"]) {
      const r = await run(ours("envdir"), [join(d, "e"), "setuidgid", "root", "/usr/bin/env"], {
        env: { PATH, BUN_JSC_useWarmUpMarkedBlocks: v },
        extendEnv: false,
      });
      expect(r.stdout.split("\n").filter((l) => l.includes("WARMUP") || l.includes("WarmUp"))).toEqual([
        `BUN_JSC_useWarmUpMarkedBlocks=${v}`,
      ]);
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
      expect(e).toEqual(expect.arrayContaining(RELAY));
      // tai64n itself sees none of it: its own child would not get it either (no exec here; boot removed it).
      await p.write("a\n");
      expect(await p.until("a\n")).toMatch(/^@[0-9a-f]{24} a\n$/);
    } finally {
      p.kill();
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
      expect(environ(sup[0] as number)).toEqual(expect.arrayContaining(RELAY));
      const text = readFileSync(out, "utf8");
      expect(text).not.toContain("WARMUP");
      expect(text).not.toContain("QTS_");
      expect(text).toContain("A=1\n");
      // svscan itself was started by the test, not by ours: nothing was added to its environment.
      expect(environ(s.pid).some((e) => e.includes("WARMUP"))).toBe(false);
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
      expect(environ(kids[0] as number)).toEqual(expect.arrayContaining(RELAY));
      // envdir (ours) got it from tcpserver; the sh it exec'd (not ours) did not.
      const two = talk(p2, "");
      expect(await waitFor(() => one() && two().includes("TCPREMOTEPORT="), 15_000)).toBe(true);
      await waitFor(() => conns[1]?.readableEnded || two().endsWith("\n"), 2000);
      expect(two()).toContain("X=y\n");
      expect(two()).not.toContain("WARMUP");
      expect(two()).not.toContain("QTS_");
    } finally {
      for (const c of conns) c.destroy();
      a.kill();
      b.kill();
    }
  });
});
