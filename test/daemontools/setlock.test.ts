// SPDX-License-Identifier: MIT
import { describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { run, start, tmp, waitFor } from "../lib/harness.ts";
import { impls, inheritedFdTable } from "./chain.ts";

const USAGE = "setlock: usage: setlock [ -nNxX ] file program [ arg ... ]\n";

describe.each(impls("setlock"))("setlock (%s)", (_w, bin) => {
  test("usage: 100", async () => {
    for (const args of [[], ["f"], ["-n", "f"]]) {
      const r = await run(bin, args);
      expect(r).toMatchObject({ code: 100, stderr: USAGE });
    }
    const r = await run(bin, ["-z", "f", "true"]);
    expect(r).toMatchObject({ code: 100, stderr: `setlock: illegal option -- z\n${USAGE}` });
  });

  test("creates the file 0600 and runs the child holding the lock on an inherited fd", async () => {
    const d = tmp();
    const lk = join(d, "lk");
    const r = await run(bin, [lk, "sh", "-c", 'for f in /proc/$$/fd/*; do readlink "$f"; done; exit 3']);
    expect(r.code).toBe(3);
    expect(r.stdout.split("\n")).toContain(lk);
    expect(statSync(lk).mode & 0o777).toBe(0o600);
  });

  test("held lock: -n fails 111, -nx exits 0 silently, blocking waits", async () => {
    const d = tmp();
    const lk = join(d, "lk");
    const holder = start(bin, [lk, "sleep", "1.5"], { stdio: "ignore" });
    const done = holder.exited;
    await waitFor(() => existsSync(lk));
    await Bun.sleep(150);
    const n = await run(bin, ["-n", lk, "echo", "ran"]);
    expect(n).toMatchObject({
      code: 111,
      stdout: "",
      stderr: `setlock: fatal: unable to lock ${lk}: temporary failure\n`,
    });
    const nx = await run(bin, ["-nx", lk, "echo", "ran"]);
    expect(nx).toMatchObject({ code: 0, stdout: "", stderr: "" });
    const t0 = Date.now();
    const b = await run(bin, ["-nN", lk, "echo", "ran"]);
    expect(b).toMatchObject({ code: 0, stdout: "ran\n" });
    expect(Date.now() - t0).toBeGreaterThan(700);
    await done;
  });

  test("open failure: 111, or 0 with -x", async () => {
    const r = await run(bin, ["/nonexist/lk", "true"]);
    expect(r).toMatchObject({
      code: 111,
      stderr: "setlock: fatal: unable to open /nonexist/lk: file does not exist\n",
    });
    const x = await run(bin, ["-x", "/nonexist/lk", "true"]);
    expect(x).toMatchObject({ code: 0, stderr: "" });
    const X = await run(bin, ["-xX", "/nonexist/lk", "true"]);
    expect(X.code).toBe(111);
  });

  test("child not found: 111", async () => {
    const r = await run(bin, [join(tmp(), "lk"), "/nonexist"]);
    expect(r).toMatchObject({ code: 111, stderr: "setlock: fatal: unable to run /nonexist: file does not exist\n" });
  });

  test("the lock stays held by the exec'd program until it exits", async () => {
    const d = tmp();
    const lk = join(d, "lk");
    const r = await run(bin, [lk, "sh", "-c", `"$0" -n "$1" true; echo "inner=$?"`, bin, lk]);
    expect(r.stdout).toBe("inner=111\n");
  });
});

test("fds inherited from the parent and the lock fd's number are the original's", async () => {
  const all = impls("setlock");
  const d = tmp();
  const tables = await Promise.all(all.map(([, b], i) => inheritedFdTable(b, [join(d, `lk${i}`)])));
  expect(tables[0]).toContain("7 -> /dev/null");
  expect(tables[0]).toContain(`-> ${join(d, "lk0")}`);
  expect(tables[0]).toContain(`3 -> ${join(d, "lk0")}`);
  if (tables[1] !== undefined) expect(tables[0]?.replace("lk0", "lk")).toBe(tables[1].replace("lk1", "lk"));
});
