// SPDX-License-Identifier: MIT
import { describe, expect, test } from "bun:test";
import { run } from "../lib/harness.ts";
import { CLEAN, impls, inheritedFdTable, nonblocking, PROBE, probeSummary } from "./chain.ts";

describe.each(impls("setuidgid"))("setuidgid (%s)", (_w, bin) => {
  test("usage: 100", async () => {
    for (const args of [[], ["root"]]) {
      const r = await run(bin, args);
      expect(r).toMatchObject({ code: 100, stdout: "", stderr: "setuidgid: usage: setuidgid account child\n" });
    }
  });

  test("unknown account: 111", async () => {
    const r = await run(bin, ["nosuchuser", "true"]);
    expect(r).toMatchObject({ code: 111, stderr: "setuidgid: fatal: unknown account nosuchuser\n" });
  });

  test("child not found: 111", async () => {
    const r = await run(bin, ["root", "/nonexist"]);
    expect(r).toMatchObject({ code: 111, stderr: "setuidgid: fatal: unable to run /nonexist: file does not exist\n" });
    const p = await run(bin, ["root", "nosuchprog"], { env: { PATH: "/bin:/usr/bin" } });
    expect(p).toMatchObject({ code: 111, stderr: "setuidgid: fatal: unable to run nosuchprog: file does not exist\n" });
  });

  test("not root: unable to setgid, 111", async () => {
    const r = await run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", bin, "root", "true"]);
    expect(r).toMatchObject({ code: 111, stderr: "setuidgid: fatal: unable to setgid: permission denied\n" });
  });

  test("only the primary group; uid and gid set", async () => {
    // The caller's supplementary groups (here 1, 2, 3) do not survive: setgroups(1, &gid).
    const r = await run("setpriv", ["--groups=1,2,3", bin, "nobody", "id"]);
    expect(r).toMatchObject({ code: 0, stdout: "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n" });
  });

  test("same pid, default SIGPIPE/SIGXFSZ, blocking stdio, exit code passed on", async () => {
    const r = await run("sh", ["-c", `echo $$; exec "$0" nobody sh -c 'echo $$; exit 7'`, bin]);
    expect(r.code).toBe(7);
    const [pid1, pid2] = r.stdout.split("\n");
    expect(pid2).toBe(pid1 as string);
    const [py, ...pre] = CLEAN;
    const probe = probeSummary((await run(py as string, [...pre, bin, "nobody", ...PROBE])).stdout);
    expect(probe).toContain("Uid:\t65534\t65534\t65534\t65534");
    expect(probe).toContain("Gid:\t65534\t65534\t65534\t65534");
    expect(probe).toMatch(/^Groups:\t65534 ?$/m);
    expect(probe).toContain("SigIgn:\t0000000000000000");
    expect(probe).toContain("SigBlk:\t0000000000000000");
    expect(nonblocking(probe)).toEqual([false, false, false]);
  });
});

test("ours and the original leave the same process state", async () => {
  const all = impls("setuidgid");
  if (all.length < 2) return;
  const [py, ...pre] = CLEAN;
  const outs = await Promise.all(all.map(([, b]) => run(py as string, [...pre, b, "nobody", ...PROBE])));
  expect(probeSummary(outs[0]?.stdout as string)).toEqual(probeSummary(outs[1]?.stdout as string));
});

test("fds inherited from the parent reach the program, as with the original", async () => {
  const all = impls("setuidgid");
  const tables = await Promise.all(all.map(([, b]) => inheritedFdTable(b, ["root"])));
  expect(tables[0]).toContain("7 -> /dev/null");
  expect(tables[0]).toContain("9 -> /dev/null");
  if (tables[1] !== undefined) expect(tables[0]).toBe(tables[1]);
});

test("signals the parent blocked stay blocked in the program, as with the original", async () => {
  const block =
    "import os,signal,sys\nsignal.pthread_sigmask(signal.SIG_SETMASK,[signal.SIGHUP,signal.SIGUSR1])\nsignal.signal(signal.SIGPIPE,signal.SIG_DFL)\nsignal.signal(signal.SIGXFSZ,signal.SIG_DFL)\nos.execv(sys.argv[1],sys.argv[1:])";
  for (const [, b] of impls("setuidgid")) {
    const r = await run("python3", ["-c", block, b, "nobody", ...PROBE]);
    expect(probeSummary(r.stdout)).toContain("SigBlk:\t0000000000000201");
  }
});
