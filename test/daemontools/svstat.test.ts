// SPDX-License-Identifier: MIT
import { describe, expect, test } from "bun:test";
import { closeSync, constants, mkdirSync, openSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { mkfifo } from "@qts/sys/fifo";
import { original, ours, run, tmp } from "../lib/harness.ts";

const impls: [string, string][] = [["ours", ours("svstat")]];
const orig = original("svstat");
if (orig) impls.push(["original", orig]);

function statusBytes(unix: number, pid: number, paused: number, want: number): Buffer {
  const b = Buffer.alloc(18);
  b.writeBigUInt64BE((1n << 62n) + 10n + BigInt(unix), 0);
  b.writeUInt32BE(123456789, 8);
  b.writeUInt32LE(pid, 12);
  b[16] = paused;
  b[17] = want;
  return b;
}

const held: number[] = [];

/** A service dir with a status file and an ok FIFO that this test holds open, like a running supervise. */
function fake(
  base: string,
  name: string,
  status: Buffer | undefined,
  opts: { down?: boolean; reader?: boolean } = {},
): string {
  const d = join(base, name);
  mkdirSync(join(d, "supervise"), { recursive: true });
  mkfifo(join(d, "supervise/ok"), 0o600);
  if (opts.reader !== false) held.push(openSync(join(d, "supervise/ok"), constants.O_RDONLY | constants.O_NONBLOCK));
  if (status) writeFileSync(join(d, "supervise/status"), status);
  if (opts.down) writeFileSync(join(d, "down"), "");
  return d;
}

describe.each(impls)("svstat (%s)", (_which, svstat) => {
  test("every state and qualifier; errors per dir; exit 0", async () => {
    const base = tmp();
    const past = Math.floor(Date.now() / 1000) - 1000;
    const future = Math.floor(Date.now() / 1000) + 1000;
    fake(base, "up", statusBytes(future, 4242, 0, 0x75));
    fake(base, "upnd", statusBytes(future, 4242, 1, 0x64), { down: true });
    fake(base, "downnu", statusBytes(future, 0, 1, 0x75));
    fake(base, "downd", statusBytes(future, 0, 0, 0x64), { down: true });
    fake(base, "once", statusBytes(future, 0, 0, 0), { down: true });
    fake(base, "big", statusBytes(future, 0xfffffffe, 0, 0x64));
    fake(base, "old", statusBytes(past, 77, 0, 0x75));
    fake(base, "short", statusBytes(future, 1, 0, 0).subarray(0, 17));
    fake(base, "nostatus", undefined);
    fake(base, "notrunning", statusBytes(future, 1, 0, 0x75), { reader: false });
    mkdirSync(join(base, "nosup"));
    mkdirSync(join(base, "loop"));
    symlinkSync("down", join(base, "loop/down"));
    const names = [
      "up",
      "upnd",
      "downnu",
      "downd",
      "once",
      "big",
      "old",
      "short",
      "nostatus",
      "notrunning",
      "nosup",
      "loop",
      "/nonexist",
    ];
    const r = await run(svstat, names, { cwd: base });
    for (const fd of held.splice(0)) closeSync(fd);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout.replace(/ 100[0-9] seconds/, " OLD seconds")).toBe(
      [
        "up: up (pid 4242) 0 seconds",
        "upnd: up (pid 4242) 0 seconds, normally down, paused, want down",
        "downnu: down 0 seconds, normally up, want up",
        "downd: down 0 seconds",
        "once: down 0 seconds",
        "big: up (pid 4294967294) 0 seconds, want down",
        "old: up (pid 77) OLD seconds",
        "short: unable to read supervise/status: bad format",
        "nostatus: unable to open supervise/status: file does not exist",
        "notrunning: supervise not running",
        "nosup: unable to open supervise/ok: file does not exist",
        "loop: unable to stat down: symbolic link loop",
        "/nonexist: unable to chdir: file does not exist",
        "",
      ].join("\n"),
    );
  });

  test("no argument: nothing, 0", async () => {
    expect(await run(svstat, [])).toMatchObject({ code: 0, stdout: "", stderr: "" });
  });
});

// Debian's svstat compares read()'s -1 against an unsigned size, misses the error and prints the
// previous dir's status (or zeros); ours reports the error.
test("svstat (ours): a read error on supervise/status is reported", async () => {
  const base = tmp();
  mkdirSync(join(base, "dirstatus/supervise/status"), { recursive: true });
  mkfifo(join(base, "dirstatus/supervise/ok"), 0o600);
  const fd = openSync(join(base, "dirstatus/supervise/ok"), constants.O_RDONLY | constants.O_NONBLOCK);
  const r = await run(ours("svstat"), ["dirstatus"], { cwd: base });
  closeSync(fd);
  expect(r).toMatchObject({ code: 0, stdout: "dirstatus: unable to read supervise/status: is a directory\n" });
});
