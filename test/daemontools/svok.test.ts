// SPDX-License-Identifier: MIT
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { mkfifo } from "@qts/sys/fifo";
import { original, ours, run, tmp } from "../lib/harness.ts";

const impls: [string, string][] = [["ours", ours("svok")]];
const orig = original("svok");
if (orig) impls.push(["original", orig]);

describe.each(impls)("svok (%s)", (_which, svok) => {
  test("no argument: usage, 100", async () => {
    const r = await run(svok, []);
    expect(r).toMatchObject({ code: 100, stdout: "", stderr: "svok: usage: svok dir\n" });
  });

  test("missing dir: 111 with the chdir error", async () => {
    const r = await run(svok, ["/nonexist"]);
    expect(r).toMatchObject({ code: 111, stderr: "svok: fatal: unable to chdir to /nonexist: file does not exist\n" });
  });

  test("no supervise/ok: 100, silent", async () => {
    const r = await run(svok, [tmp()]);
    expect(r).toMatchObject({ code: 100, stdout: "", stderr: "" });
  });

  test("ok FIFO without a reader: 100 (ENXIO)", async () => {
    const d = tmp();
    mkdirSync(join(d, "supervise"));
    mkfifo(join(d, "supervise/ok"), 0o600);
    const r = await run(svok, [d]);
    expect(r).toMatchObject({ code: 100, stderr: "" });
  });

  test("ok FIFO with a reader: 0", async () => {
    const d = tmp();
    mkdirSync(join(d, "supervise"));
    mkfifo(join(d, "supervise/ok"), 0o600);
    const fd = openSync(join(d, "supervise/ok"), "r+");
    const r = await run(svok, [d]);
    expect(r).toMatchObject({ code: 0, stdout: "", stderr: "" });
    require("node:fs").closeSync(fd);
  });

  test("supervise/ok is a directory: 111 with the open error", async () => {
    const d = tmp();
    mkdirSync(join(d, "supervise/ok"), { recursive: true });
    const r = await run(svok, [d]);
    expect(r).toMatchObject({ code: 111, stderr: `svok: fatal: unable to open ${d}/supervise/ok: is a directory\n` });
  });

  test("unreadable dir as an unprivileged user: access denied", async () => {
    const d = tmp();
    const inner = join(d, "svc");
    mkdirSync(inner);
    writeFileSync(join(d, "x"), "");
    chmodSync(inner, 0o700);
    chmodSync(d, 0o755);
    const r = await run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", svok, inner]);
    expect(r).toMatchObject({ code: 111, stderr: `svok: fatal: unable to chdir to ${inner}: access denied\n` });
  });
});

test("svok runs by absolute path from any cwd with an empty PATH", async () => {
  const r = await run(ours("svok"), [], { cwd: "/", env: { PATH: "" }, extendEnv: false });
  expect(r).toMatchObject({ code: 100, stderr: "svok: usage: svok dir\n" });
});
