// SPDX-License-Identifier: MIT
// Every program of ours under the memory limits of run scripts (softlimit -m, -a, -d): it runs with the
// environment as given, and below the floor it ends with one fatal line and exit 111 (softlimit(8),
// "Memory limits").
import { describe, expect, test } from "bun:test";
import { readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, original, ours, run, start, tmp } from "../lib/harness.ts";

const VERSION = (JSON.parse(await Bun.file(join(BIN, "../package.json")).text()) as { version: string }).version;
const PROGRAMS = readdirSync(BIN)
  .filter((f) => {
    try {
      return readlinkSync(join(BIN, f)) === "qts";
    } catch {
      return false;
    }
  })
  .sort();
const FLOOR = "400000000";
const env = { PATH: `${BIN}:/usr/bin:/bin` };
const FIT = { BUN_JSC_jitMemoryReservationSize: "33554432", MIMALLOC_ARENA_RESERVE: "64MiB" };
const DEB_SOFTLIMIT = original("softlimit");

/** Runs each of items through f, n at a time (bounded load on a shared machine). */
async function each<T>(items: readonly T[], n: number, f: (x: T) => Promise<void>): Promise<void> {
  const q = [...items];
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (let x = q.shift(); x !== undefined; x = q.shift()) await f(x);
    }),
  );
}

const oneFatal = (prog: string, text: string) => new RegExp(`^${prog.replace(/[-.]/g, "\\$&")}: fatal: ${text}\n$`);

test("there are programs to check", () => {
  expect(PROGRAMS.length).toBeGreaterThan(50);
  expect(PROGRAMS).toContain("tcpserver");
});

// -m for every program; -a and -d (which -m sets with two more) for a handful, each path of the runtime's.
const HANDFUL = ["svok", "svstat", "tai64n", "setuidgid", "multilog", "tcpserver", "qmail-smtpd", "qmail-send"];

describe.each([
  ["-m", PROGRAMS],
  ["-a", HANDFUL],
  ["-d", HANDFUL],
] as const)("our softlimit %s 1000000000, environment as given", (flag, progs) => {
  test("each program runs --version", async () => {
    const bad: string[] = [];
    await each(progs, 3, async (p) => {
      const r = await run(ours("softlimit"), [flag, "1000000000", p, "--version"], { env, extendEnv: false });
      if (r.code !== 0 || r.stdout !== `${p} ${VERSION}\n` || r.stderr !== "") bad.push(`${p}: ${JSON.stringify(r)}`);
    });
    expect(bad).toEqual([]);
  });
});

describe("a trivial job under softlimit -m 1000000000", () => {
  const lim = [ours("softlimit"), "-m", "1000000000"];
  const go = (args: string[], input?: string) =>
    run(lim[0] as string, [...lim.slice(1), ...args], { env, extendEnv: false, input });

  test("svok, tai64n, envdir, setuidgid (bun:ffi), tcprulescheck", async () => {
    const d = tmp();
    expect((await go(["svok", d])).code).toBe(100);
    const t = await go(["tai64n"], "a\n");
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/^@4[0-9a-f]{23} a\n$/);
    writeFileSync(join(d, "X"), "y\n");
    expect(await go(["envdir", d, "sh", "-c", 'echo "$X"'])).toMatchObject({ code: 0, stdout: "y\n" });
    expect(await go(["setuidgid", "nobody", "id", "-u"])).toMatchObject({ code: 0, stdout: "65534\n" });
    const cdb = join(d, "r.cdb");
    expect((await run(ours("tcprules"), [cdb, join(d, "r.tmp")], { input: "1.2.3.4:deny\n" })).code).toBe(0);
    const c = await run(lim[0] as string, [...lim.slice(1), "tcprulescheck", cdb], {
      env: { ...env, TCPREMOTEIP: "1.2.3.4" },
      extendEnv: false,
    });
    expect(c).toMatchObject({ code: 0, stdout: "rule 1.2.3.4:\ndeny connection\n" });
  });

  test("tcpserver serves a connection (its spawns and sockets go through bun:ffi)", async () => {
    const p = start(
      ours("softlimit"),
      ["-m", "1000000000", "tcpserver", "-1", "-RHl0", "127.0.0.1", "0", "echo", "hi"],
      { env, extendEnv: false, stdout: "pipe", stderr: "ignore" },
    );
    try {
      const out = await p.until("\n", 10000);
      const port = Number(out.trim());
      expect(port).toBeGreaterThan(0);
      const got = await new Promise<string>((ok) => {
        let s = "";
        const t = setTimeout(() => ok(s), 10000);
        Bun.connect({
          hostname: "127.0.0.1",
          port,
          socket: {
            data: (_x, d) => {
              s += d.toString();
            },
            close: () => {
              clearTimeout(t);
              ok(s);
            },
            error: () => ok(s),
          },
        });
      });
      expect(got).toBe("hi\n");
    } finally {
      p.kill("SIGTERM");
      await Promise.race([p.exited, Bun.sleep(3000)]);
    }
  });
});

describe("below the floor: one fatal line naming the limit, exit 111, never a signal", () => {
  test("our softlimit -m 300000000 (-a, -d for a handful) refuses to start any of ours", async () => {
    const bad: string[] = [];
    await each(PROGRAMS, 3, async (p) => {
      for (const flag of HANDFUL.includes(p) ? ["-m", "-a", "-d"] : ["-m"]) {
        const r = await run(ours("softlimit"), [flag, "300000000", p, "--version"], { env, extendEnv: false });
        const want = oneFatal(
          "softlimit",
          `unable to run ${p}: memory limit 300000000 is too low: our programs need at least ${FLOOR} \\(softlimit -m ${FLOOR}\\)`,
        );
        if (r.code !== 111 || r.signal || r.stdout !== "" || !want.test(r.stderr))
          bad.push(`${p} ${flag}: ${JSON.stringify(r)}`);
      }
    });
    expect(bad).toEqual([]);
  });

  test("so does -m 2000000, the article's figure", async () => {
    const r = await run(ours("softlimit"), ["-m", "2000000", "tcpserver", "0", "25", "true"], {
      env,
      extendEnv: false,
    });
    expect(r.code).toBe(111);
    expect(r.stderr).toMatch(oneFatal("softlimit", "unable to run tcpserver: memory limit 2000000 is too low: .*"));
  });

  test.skipIf(!DEB_SOFTLIMIT)("under another softlimit, each program says it itself", async () => {
    // Debian's softlimit adds nothing to the environment; the variables are given here so that the
    // runtime starts at all at 380 MB (without them it needs about 390 MB, softlimit(8)).
    const bad: string[] = [];
    await each(PROGRAMS, 3, async (p) => {
      const r = await run(DEB_SOFTLIMIT as string, ["-m", "380000000", ours(p), "--version"], {
        env: { ...env, ...FIT },
        extendEnv: false,
      });
      const want = oneFatal(
        p,
        `memory limit 380000000 is too low: our programs need at least ${FLOOR} \\(softlimit -m ${FLOOR}\\)`,
      );
      if (r.code !== 111 || r.signal || r.stdout !== "" || !want.test(r.stderr)) bad.push(`${p}: ${JSON.stringify(r)}`);
    });
    expect(bad).toEqual([]);
  });
});

describe.skipIf(!DEB_SOFTLIMIT)("under another program's limit (Debian's softlimit -m 1000000000)", () => {
  const deb = DEB_SOFTLIMIT as string;

  test("every program runs --version", async () => {
    const bad: string[] = [];
    await each(PROGRAMS, 3, async (p) => {
      const r = await run(deb, ["-m", "1000000000", ours(p), "--version"], { env, extendEnv: false });
      if (r.code !== 0 || r.stdout !== `${p} ${VERSION}\n` || r.stderr !== "") bad.push(`${p}: ${JSON.stringify(r)}`);
    });
    expect(bad).toEqual([]);
  });

  test("a program started again for its JIT keeps its pid, arguments and environment", async () => {
    const p = start(
      deb,
      ["-m", "1000000000", ours("setuidgid"), "root", "sh", "-c", 'echo "$$ $0 $1 $X"', "a b", "é ü"],
      { env: { ...env, X: "x y" }, extendEnv: false, stdout: "pipe", stderr: "pipe" },
    );
    const r = await p.wait();
    const out = r.stdout;
    expect(r.code).toBe(0);
    expect(out).toBe(`${p.pid} a b é ü x y\n`);
  });

  test("so does `qts NAME`, the program's name kept", async () => {
    const r = await run(deb, ["-m", "1000000000", ours("qts"), "setuidgid", "root", "sh", "-c", 'echo "$0"', "x"], {
      env,
      extendEnv: false,
    });
    expect(r).toMatchObject({ code: 0, stdout: "x\n", stderr: "" });
  });

  test("with a parent's fd open beyond 2 it cannot start again: one fatal line when it needs bun:ffi", async () => {
    const r = await run("sh", ["-c", `exec 5</dev/null; exec ${deb} -m 1000000000 ${ours("setuidgid")} root true`], {
      env,
      extendEnv: false,
    });
    expect(r.code).toBe(111);
    expect(r.stderr).toMatch(
      oneFatal("setuidgid", "memory limit 1000000000 left Bun without the JIT that bun:ffi needs: .*"),
    );
    // svok needs no bun:ffi: it just runs
    const s = await run("sh", ["-c", `exec 5</dev/null; exec ${deb} -m 1000000000 ${ours("svok")} ${tmp()}`], {
      env,
      extendEnv: false,
    });
    expect(s).toMatchObject({ code: 100, stderr: "" });
  });
});
