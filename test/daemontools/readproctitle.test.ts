// SPDX-License-Identifier: MIT
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { run, start, waitFor } from "../lib/harness.ts";
import { ORIG, OURS } from "./supervise-helpers.ts";

const impls: [string, string][] = [["ours", OURS.readproctitle]];
if (ORIG.readproctitle) impls.push(["original", ORIG.readproctitle]);

/** Runs readproctitle with args, feeds input, and returns its command line as /proc and ps show it. */
async function title(
  bin: string,
  args: string[],
  input: Buffer,
): Promise<{ cmdline: Buffer; ps: string; comm: string; code: number | null }> {
  const p = start(bin, args, { stdio: ["pipe", "ignore", "ignore"], argv0: "readproctitle" });
  // the exit code, null when a signal ended it
  const exited = p.exited.then((r) => (r.signal ? null : r.code));
  p.write(input);
  const want = input.filter((b) => b !== 0).subarray(-5);
  const cmdline = await waitFor(() => {
    const c = readFileSync(`/proc/${p.pid}/cmdline`);
    return want.length === 0 || c.includes(want) ? c : undefined;
  }, 3000);
  const ps = (await run("ps", ["-o", "args=", "-p", String(p.pid)])).stdout;
  const comm = readFileSync(`/proc/${p.pid}/comm`, "utf8");
  p.end();
  return { cmdline: cmdline as Buffer, ps, comm, code: await exited };
}

const DOTS = ".".repeat(50);

describe.each(impls)("readproctitle (%s)", (_which, bin) => {
  test("no argument, or a last argument under 5 bytes: 100", async () => {
    expect((await run(bin, [])).code).toBe(100);
    expect((await run(bin, ["service", "abcd"], { input: "" })).code).toBe(100);
  });

  test("the message scrolls into the last argument; 3 dots stay; NULs skipped; EOF exits 0", async () => {
    const r = await title(bin, ["service", "errors:", DOTS], Buffer.from("svscan: warning: unable to stat x\n\0"));
    expect(r.code).toBe(0);
    expect(r.cmdline.toString("latin1")).toBe(
      `readproctitle\0service\0errors:\0${".".repeat(16)}svscan: warning: unable to stat x\n\0`,
    );
    expect(r.ps).toBe(`readproctitle service errors: ${".".repeat(16)}svscan: warning: unable to stat x \n`);
    expect(r.comm).toBe("readproctitle\n");
  });

  test("long input: only the last len-3 bytes remain", async () => {
    const text = Buffer.from(Array.from({ length: 30 }, (_, i) => `line ${i}\n`).join(""));
    const r = await title(bin, ["x", DOTS], text);
    expect(r.cmdline.toString("latin1")).toBe(`readproctitle\0x\0...${text.subarray(-47).toString("latin1")}\0`);
  });
});

test("readproctitle: ours and Debian's leave byte-identical command lines", async () => {
  if (!ORIG.readproctitle) return;
  const input = Buffer.from("svscan: warning: unable to start supervise a: file does not exist\nsupervise: fatal: x\n");
  const [a, b] = await Promise.all([
    title(OURS.readproctitle, ["service", "errors:", DOTS], input),
    title(ORIG.readproctitle, ["service", "errors:", DOTS], input),
  ]);
  expect(a.cmdline).toEqual(b.cmdline);
});
