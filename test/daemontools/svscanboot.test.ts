// SPDX-License-Identifier: MIT
import { expect, test } from "bun:test";
import { mkdirSync, readFileSync, readlinkSync, symlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { kill, run, start, tmp, waitFor } from "../lib/harness.ts";
import { children, OURS, service, startSupervise, status, waitStatus } from "./supervise-helpers.ts";

test("svscanboot DIR: stops leftover supervisors, runs svscan into readproctitle; errors show in ps", async () => {
  const base = tmp("qts-boot-");
  const dir = join(base, "service");
  mkdirSync(dir);
  const a = service(dir, "a", "exec sleep 1000");
  symlinkSync("/nonexist", join(dir, "broken"));
  // A leftover supervise from an earlier boot: svscanboot's svc -dx must stop it.
  const old = startSupervise(OURS.supervise, a);
  const oldChild = (await waitStatus(a, (x) => x.pid !== 0)).pid;
  await Bun.sleep(1100);

  const boot = start(OURS.svscanboot, [dir], { stdio: "ignore" });
  // the exit code, null when a signal ended it
  const exited = boot.exited.then((r) => (r.signal ? null : r.code));
  const pid = boot.pid as number;
  let svscan: number | undefined;
  let title: number | undefined;
  try {
    expect(await old.exited).toBe(0);
    const kids = await waitFor(() => {
      const k = children(pid);
      svscan = k.find((c) => c.comm === "svscan")?.pid;
      title = k.find((c) => c.comm === "readproctitle")?.pid;
      return svscan && title ? k : undefined;
    }, 3000);
    expect(kids?.map((k) => k.args.replace(/\.{10,}.*$/s, "DOTS")).sort()).toEqual([
      `readproctitle service errors: DOTS`,
      `svscan ${dir}`,
    ]);
    expect(readFileSync(`/proc/${pid}/comm`, "utf8")).toBe("svscanboot\n");
    // Only PATH, as `env - PATH=...` gives it; /proc shows what exec gave, so also the JavaScriptCore
    // options that our spawn adds for a program of ours and that its boot then drops (core/conf.ts).
    expect(readFileSync(`/proc/${svscan}/environ`, "utf8")).toMatch(
      /^PATH=[^\0]*\0BUN_JSC_useWarmUpMarkedBlocks=0\0BUN_JSC_useConcurrentJIT=0\0QTS_JSC=BUN_JSC_useWarmUpMarkedBlocks,BUN_JSC_useConcurrentJIT\0$/,
    );
    const ps = await waitFor(async () => {
      const out = (await run("ps", ["-o", "args=", "-p", String(title)])).stdout;
      return out.includes("svscan: warning: unable to stat broken: file does not exist") ? out : undefined;
    }, 4000);
    expect(ps).toMatch(
      /^readproctitle service errors: \.\.\.+svscan: warning: unable to stat broken: file does not exist \n$/,
    );
    expect(readFileSync(`/proc/${title}/cmdline`).length).toBe("readproctitle service errors: ".length + 401);
    const fresh = await waitStatus(a, (x) => x.pid !== 0 && x.pid !== oldChild, 4000);
    expect(readlinkSync(`/proc/${svscan}/cwd`)).toBe(dir);
    expect(children(svscan as number).map((c) => c.args)).toEqual(["supervise a"]);
    // svscan's supervisors hold the pipe too: readproctitle sees EOF once all of them are gone.
    kill(svscan);
    await run(OURS.svc, ["-dx", a]);
    expect(await exited).toBe(0);
    expect(status(a)?.pid).toBe(0);
    expect(fresh.pid).not.toBe(oldChild);
  } finally {
    // On failure, the tree is still up: stop svscan, then its supervisors, then their child.
    kill(svscan, "SIGSTOP");
    const sups = svscan ? children(svscan) : [];
    kill(svscan);
    for (const s of sups) kill(s.pid);
    kill(title);
    kill(pid);
    const st = status(a);
    if (st?.pid) kill(st.pid);
  }
}, 20_000);

test("svscanboot run by a relative path puts its own directory first in PATH, made absolute", async () => {
  const dir = tmp("qts-boot-rel-");
  const binDir = dirname(OURS.svscanboot);
  const boot = start(`./${basename(OURS.svscanboot)}`, [dir], { stdio: "ignore", cwd: binDir });
  // the exit code, null when a signal ended it
  const exited = boot.exited.then((r) => (r.signal ? null : r.code));
  const pid = boot.pid as number;
  let svscan: number | undefined;
  let title: number | undefined;
  try {
    await waitFor(() => {
      const k = children(pid);
      svscan = k.find((c) => c.comm === "svscan")?.pid;
      title = k.find((c) => c.comm === "readproctitle")?.pid;
      return svscan && title ? k : undefined;
    }, 3000);
    const env = readFileSync(`/proc/${svscan}/environ`, "utf8");
    expect(env).toStartWith(`PATH=${binDir}:/command:`);
    kill(svscan);
    expect(await exited).toBe(0);
  } finally {
    kill(svscan);
    kill(title);
    kill(pid);
  }
}, 20_000);
