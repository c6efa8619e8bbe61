// SPDX-License-Identifier: MIT
import { describe, expect, test } from "bun:test";
import { BIN, ours, run } from "../lib/harness.ts";
import { CLEAN, impls, inheritedFdTable, nonblocking, PROBE, probeSummary } from "./chain.ts";

const USAGE =
  "softlimit: usage: softlimit [-a allbytes] [-c corebytes] [-d databytes] [-f filebytes] [-l lockbytes] [-m membytes] [-o openfiles] [-p processes] [-r residentbytes] [-s stackbytes] [-t cpusecs] child\n";

describe.each(impls("softlimit"))("softlimit (%s)", (_w, bin) => {
  test("usage: 100", async () => {
    for (const args of [[], ["-o", "5"], ["-o", "abc", "true"], ["-o", "5x", "true"]]) {
      const r = await run(bin, args);
      expect(r).toMatchObject({ code: 100, stdout: "", stderr: USAGE });
    }
    const r = await run(bin, ["-x", "true"]);
    expect(r).toMatchObject({ code: 100, stderr: `softlimit: illegal option -- x\n${USAGE}` });
  });

  test("child not found: 111", async () => {
    const r = await run(bin, ["-o", "10", "-m", "50000000", "/nonexist"]);
    expect(r).toMatchObject({ code: 111, stderr: "softlimit: fatal: unable to run /nonexist: file does not exist\n" });
  });

  test("limits a C program cannot start under still reach it", async () => {
    const r = await run(bin, ["-m", "2000000", "/bin/echo", "hi"]);
    expect(r.code).toBe(127);
    expect(r.stderr).toContain("libc.so.6");
  });

  test("-o 20 reaches the child, SIGPIPE default, stdio blocking", async () => {
    const r = await run(bin, ["-o", "20", "sh", "-c", "ulimit -n"]);
    expect(r.stdout).toBe("20\n");
    const [py, ...pre] = CLEAN;
    const probe = probeSummary((await run(py as string, [...pre, bin, "-o", "20", ...PROBE])).stdout);
    expect(probe).toContain("SigIgn:\t0000000000000000");
    expect(probe).toContain("SigBlk:\t0000000000000000");
    expect(nonblocking(probe)).toEqual([false, false, false]);
  });
});

test("every option and = give the same limits as the original", async () => {
  const all = impls("softlimit");
  if (all.length < 2) return;
  const sets = [
    ["-a", "600000000"],
    ["-c", "1000"],
    ["-d", "50000000"],
    ["-f", "100000"],
    ["-l", "4096"],
    ["-m", "50000000"],
    ["-o", "33"],
    ["-p", "999"],
    ["-r", "12345678"],
    ["-s", "1000000"],
    ["-t", "77"],
    ["-o", "="],
    ["-l", "99999999999999"],
    ["-o", ""],
    ["-c0", "-d", "=", "-t", "99999999999999999999999"],
  ];
  for (const s of sets) {
    const outs = await Promise.all(
      all.map(([, b]) => run("sh", ["-c", `ulimit -n 100; exec "$0" "$@"`, b, ...s, "cat", "/proc/self/limits"])),
    );
    expect(outs[0]).toEqual(outs[1] as (typeof outs)[number]);
  }
});

describe("RLIMIT_NOFILE across our own programs (QTS_NOFILE)", () => {
  const env = { PATH: `${BIN}:/usr/bin:/bin` };

  test("softlimit -o 20 through setuidgid, envuidgid and softlimit (ours) keeps 20", async () => {
    const r = await run(
      ours("softlimit"),
      ["-o", "20", "setuidgid", "nobody", "envuidgid", "root", "softlimit", "-p", "1000", "sh", "-c", "ulimit -n; env"],
      { env, extendEnv: false },
    );
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe("20");
    expect(r.stdout).not.toContain("QTS_NOFILE");
  });

  test("softlimit -o 20 <our program>: the program itself runs at 20", async () => {
    const r = await run(ours("softlimit"), ["-o", "20", "envdir", "/proc/self/nonexistent-dir", "true"], {
      env,
      extendEnv: false,
    });
    expect(r.code).toBe(111);
    // envdir is ours: it must see soft 20 (Bun would have raised it); prove it through a child of setuidgid.
    const s = await run(ours("softlimit"), ["-o", "20", "setuidgid", "root", "sh", "-c", "ulimit -n"], {
      env,
      extendEnv: false,
    });
    expect(s.stdout).toBe("20\n");
  });

  test("a C program never sees QTS_NOFILE", async () => {
    const r = await run(ours("setuidgid"), ["root", "/usr/bin/env"], {
      env: { ...env, QTS_NOFILE: "7" },
      extendEnv: false,
    });
    expect(r.stdout).not.toContain("QTS_NOFILE");
  });

  test("known difference: a C parent's soft limit is lost in ours (Bun raises it to the hard limit first)", async () => {
    const orig = impls("softlimit")[1];
    if (!orig) return;
    const r = await run(orig[1], ["-o", "30", "setuidgid", "root", "sh", "-c", "ulimit -n; ulimit -Hn"], {
      env,
      extendEnv: false,
    });
    const [soft, hard] = r.stdout.split("\n");
    expect(soft).toBe(hard as string);
  });
});

test("fds inherited from the parent reach the program, as with the original", async () => {
  const all = impls("softlimit");
  const tables = await Promise.all(all.map(([, b]) => inheritedFdTable(b, ["-o", "100"])));
  expect(tables[0]).toContain("7 -> /dev/null");
  expect(tables[0]).toContain("9 -> /dev/null");
  if (tables[1] !== undefined) expect(tables[0]).toBe(tables[1]);
});

describe("memory limits of our programs under softlimit (more in memlimit.test.ts)", () => {
  const env = { PATH: `${BIN}:/usr/bin:/bin` };

  test("-m 3000000000 still runs a chain of ours", async () => {
    const r = await run(ours("softlimit"), ["-m", "3000000000", "setuidgid", "root", "echo", "ok"], {
      env,
      extendEnv: false,
    });
    expect(r).toMatchObject({ code: 0, stdout: "ok\n" });
  });

  test("-m 600000000 does too, with the environment as given", async () => {
    const r = await run(ours("softlimit"), ["-m", "600000000", "setuidgid", "root", "echo", "ok"], {
      env,
      extendEnv: false,
    });
    expect(r).toMatchObject({ code: 0, stdout: "ok\n" });
  });

  test("below 4 GiB the child's environment gets the runtime's two variables, unless set", async () => {
    const r = await run(ours("softlimit"), ["-m", "600000000", "env"], {
      env: { ...env, MIMALLOC_ARENA_RESERVE: "128MiB" },
      extendEnv: false,
    });
    expect(r.stdout.split("\n").sort()).toEqual(
      ["", "BUN_JSC_jitMemoryReservationSize=33554432", "MIMALLOC_ARENA_RESERVE=128MiB", `PATH=${env.PATH}`].sort(),
    );
    const big = await run(ours("softlimit"), ["-m", "5000000000", "env"], { env, extendEnv: false });
    expect(big.stdout).toBe(`PATH=${env.PATH}\n`);
  });
});
