// SPDX-License-Identifier: MIT
import { expect, test } from "bun:test";
import { closeSync, constants, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CHILD_SIGDEFAULT } from "@qts/sys/consts";
import { inheritFd } from "@qts/sys/exec";
import { fchdir } from "@qts/sys/fchdir";
// Children start through sys/posixspawn here, not the harness: that spawn is what this file tests.
import { spawn } from "@qts/sys/posixspawn";
import { exitCode, reap, termSig } from "@qts/sys/waitpid";
import { tmp, waitFor } from "../lib/harness.ts";

async function waitExit(pid: number): Promise<number> {
  let st: number | undefined;
  await waitFor(() => {
    st = reap(pid)?.status;
    return st !== undefined;
  }, 5000);
  if (st === undefined) throw new Error("child did not exit");
  return st;
}

test("posix_spawn: argv, raw env, dup2, cwd, exit code; waitpid reaps that pid", async () => {
  const d = tmp();
  const out = join(d, "out");
  const fd = openSync(out, "w");
  const pid = spawn(
    "/bin/sh",
    ["sh", "-c", 'echo "$0 $X $PWD"; exit 7', "zero"],
    ["X=a b", Buffer.from("Y=\xff", "latin1")],
    {
      dup2: [[1, fd]],
      cwd: d,
    },
  );
  closeSync(fd);
  const st = await waitExit(pid);
  expect(termSig(st)).toBe(0);
  expect(exitCode(st)).toBe(7);
  expect(readFileSync(out, "utf8")).toBe(`zero a b ${d}\n`);
  expect(() => reap(pid)).toThrow();
});

test("posix_spawn keepOnly: the child gets the kept fds and the dup2 targets, no other fd without FD_CLOEXEC", async () => {
  const d = tmp();
  const out = join(d, "out");
  const fd = openSync(out, "a"); // appending: each run empties the file by name
  // fds open without FD_CLOEXEC, as a runtime thread's transient open is: two kept, two not
  const open = () => {
    const f = openSync("/dev/null", "r");
    inheritFd(f);
    return f;
  };
  const [a, b, c, e] = [open(), open(), open(), open()] as [number, number, number, number];
  // the shell lists its fds (a glob, no process of its own); \x24 keeps biome from seeing placeholders
  const list = "for f in /proc/self/fd/*; do [ -e \x24f ] && echo \x24{f##*/}; done; true";
  const run = async (keepOnly?: number[]) => {
    const pid = spawn("/bin/sh", ["sh", "-c", list], [], { dup2: [[1, fd]], keepOnly });
    expect(exitCode(await waitExit(pid))).toBe(0);
    const got = readFileSync(out, "utf8").trim().split("\n").map(Number);
    writeFileSync(out, "");
    // the shell's own fd for reading the directory, if any, is above every one of ours
    return got.filter((n) => n <= Math.max(a, b, c, e)).sort((x, y) => x - y);
  };
  expect(await run()).toEqual([0, 1, 2, a, b, c, e].sort((x, y) => x - y));
  // Above the highest kept fd everything goes (closefrom); below it each gap is closed when there are
  // at most 32 of them (GAP_MAX): so here unless the test process already holds many fds.
  const lo = Math.min(a, b, c, e);
  expect(await run([lo])).toEqual([0, 1, 2, lo]);
  const some = await run([b, e]);
  expect(some).toEqual(expect.arrayContaining([0, 1, 2, b, e]));
  if (Math.max(b, e) - 3 - 1 <= 32) expect(some).toEqual([0, 1, 2, b, e].sort((x, y) => x - y));
  expect(await run([])).toEqual([0, 1, 2]);
  for (const f of [fd, a, b, c, e]) closeSync(f);
});

test("posix_spawn: exec errors are thrown with their errno", () => {
  expect(() => spawn("/nonexist", ["x"], [])).toThrow(expect.objectContaining({ code: "ENOENT" }));
  const d = tmp();
  writeFileSync(join(d, "f"), "#!/bin/sh\n", { mode: 0o644 });
  expect(() => spawn(join(d, "f"), ["x"], [])).toThrow(expect.objectContaining({ code: "EACCES" }));
});

test("posix_spawn: sigDefault resets Bun's ignored SIGPIPE/SIGXFSZ; other signals keep their disposition", async () => {
  const d = tmp();
  const out = join(d, "out");
  const fd = openSync(out, "w");
  const pid = spawn("/bin/grep", ["grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"], [], {
    dup2: [[1, fd]],
    sigDefault: CHILD_SIGDEFAULT,
  });
  closeSync(fd);
  await waitExit(pid);
  const own = BigInt(`0x${readFileSync("/proc/self/status", "utf8").match(/^SigIgn:\s*(\w+)/m)?.[1]}`);
  const hex = (n: bigint) => n.toString(16).padStart(16, "0");
  expect(readFileSync(out, "utf8")).toBe(`SigBlk:\t0000000000000000\nSigIgn:\t${hex(own & ~0x1001000n)}\n`);
  const fd2 = openSync(out, "w");
  const pid2 = spawn("/bin/grep", ["grep", "-E", "^SigIgn", "/proc/self/status"], [], { dup2: [[1, fd2]] });
  closeSync(fd2);
  await waitExit(pid2);
  // Without the reset: Bun's SIGPIPE, and glibc's internal 32 and 33, stay ignored. (SIGXFSZ is left out of
  // the comparison: in a full `make test` run its disposition in this process varied between runs.)
  const got = BigInt(`0x${/SigIgn:\s*(\w+)/.exec(readFileSync(out, "utf8"))?.[1]}`);
  const xfsz = 0x1000000n;
  expect(hex(got & ~xfsz)).toBe(hex((own | 0x180001000n) & ~xfsz));
});

test("waitpid: a running child is undefined, then its kill signal shows", async () => {
  const pid = spawn("/bin/sleep", ["sleep", "10"], []);
  expect(reap(pid)).toBeUndefined();
  process.kill(pid, "SIGKILL");
  expect(termSig(await waitExit(pid))).toBe(9);
});

test("fchdir returns to an open directory", () => {
  const here = process.cwd();
  const fd = openSync(here, constants.O_RDONLY);
  process.chdir(tmp());
  fchdir(fd);
  closeSync(fd);
  expect(process.cwd()).toBe(here);
});
