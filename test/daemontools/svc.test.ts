// SPDX-License-Identifier: MIT
import { describe, expect, test } from "bun:test";
import { closeSync, constants, mkdirSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { mkfifo } from "@qts/sys/fifo";
import { original, ours, run, tmp } from "../lib/harness.ts";

const impls: [string, string][] = [["ours", ours("svc")]];
const orig = original("svc");
if (orig) impls.push(["original", orig]);

const OPTIONS =
  "svc options: u up, d down, o once, x exit, p pause, c continue, h hup, a alarm, i interrupt, t term, k kill\n";

/** A service dir whose supervise/control FIFO the test itself reads (a stand-in supervise). */
function fakeSupervise(dir: string): { read(): string; close(): void } {
  mkdirSync(join(dir, "supervise"), { recursive: true });
  mkfifo(join(dir, "supervise/control"), 0o600);
  const fd = openSync(join(dir, "supervise/control"), constants.O_RDONLY | constants.O_NONBLOCK);
  return {
    read() {
      const b = Buffer.alloc(100);
      try {
        return b.subarray(0, readSync(fd, b, 0, 100, null)).toString();
      } catch {
        return "";
      }
    },
    close: () => closeSync(fd),
  };
}

describe.each(impls)("svc (%s)", (_which, svc) => {
  test("illegal option: the option list, 100", async () => {
    const r = await run(svc, ["-z", "x"]);
    expect(r).toMatchObject({ code: 100, stdout: "", stderr: `svc: illegal option -- z\n${OPTIONS}` });
  });

  test("no dir, or options only: nothing, 0", async () => {
    expect(await run(svc, [])).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(await run(svc, ["-u"])).toMatchObject({ code: 0, stdout: "", stderr: "" });
  });

  test("letters are deduplicated in order and written together", async () => {
    const d = tmp();
    const f = fakeSupervise(d);
    const r = await run(svc, ["-dudxkk", "-h", d]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(f.read()).toBe("duxkh");
    f.close();
  });

  test("every letter passes through", async () => {
    const d = tmp();
    const f = fakeSupervise(d);
    await run(svc, ["-udopchaitkx", d]);
    expect(f.read()).toBe("udopchaitkx");
    f.close();
  });

  test("per-dir warnings, then the next dir; relative dirs from the start dir; exit 0", async () => {
    const base = tmp();
    const good = fakeSupervise(join(base, "good"));
    const good2 = fakeSupervise(join(base, "good2"));
    mkdirSync(join(base, "nocontrol/supervise"), { recursive: true });
    mkdirSync(join(base, "noreader/supervise"), { recursive: true });
    mkfifo(join(base, "noreader/supervise/control"), 0o600);
    const r = await run(svc, ["-t", "/nonexist", "good", "nocontrol", "noreader", "/etc/passwd", "good2"], {
      cwd: base,
    });
    expect(r).toMatchObject({
      code: 0,
      stdout: "",
      stderr: [
        "svc: warning: unable to chdir to /nonexist: file does not exist",
        "svc: warning: unable to control nocontrol: file does not exist",
        "svc: warning: unable to control noreader: supervise not running",
        "svc: warning: unable to chdir to /etc/passwd: not a directory",
        "",
      ].join("\n"),
    });
    expect(good.read()).toBe("t");
    expect(good2.read()).toBe("t");
    good.close();
    good2.close();
  });

  test("-- ends the options", async () => {
    const r = await run(svc, ["--", "-u"], { cwd: tmp() });
    expect(r).toMatchObject({ code: 0, stderr: "svc: warning: unable to chdir to -u: file does not exist\n" });
  });
});
