// SPDX-License-Identifier: MIT
import { describe, expect, test } from "bun:test";
import { run } from "../lib/harness.ts";
import { impls, inheritedFdTable } from "./chain.ts";

describe.each(impls("envuidgid"))("envuidgid (%s)", (_w, bin) => {
  test("usage: 100", async () => {
    for (const args of [[], ["root"]]) {
      const r = await run(bin, args);
      expect(r).toMatchObject({ code: 100, stderr: "envuidgid: usage: envuidgid account child\n" });
    }
  });

  test("unknown account: 111", async () => {
    const r = await run(bin, ["nosuchuser", "true"]);
    expect(r).toMatchObject({ code: 111, stderr: "envuidgid: fatal: unknown account nosuchuser\n" });
  });

  test("GID and UID set in pathexec_env's order, uid unchanged", async () => {
    const r = await run(bin, ["nobody", "/usr/bin/env"], {
      env: { UID: "1", X: "2", GID: "3", Y: "4" },
      extendEnv: false,
    });
    expect(r).toMatchObject({ code: 0, stdout: "GID=65534\nX=2\nY=4\nUID=65534\n", stderr: "" });
    const id = await run(bin, ["nobody", "id", "-u"]);
    expect(id.stdout).toBe("0\n");
  });

  test("child not found: 111", async () => {
    const r = await run(bin, ["root", "/nonexist"]);
    expect(r).toMatchObject({ code: 111, stderr: "envuidgid: fatal: unable to run /nonexist: file does not exist\n" });
  });
});

test("fds inherited from the parent reach the program, as with the original", async () => {
  const all = impls("envuidgid");
  const tables = await Promise.all(all.map(([, b]) => inheritedFdTable(b, ["root"])));
  expect(tables[0]).toContain("7 -> /dev/null");
  expect(tables[0]).toContain("9 -> /dev/null");
  if (tables[1] !== undefined) expect(tables[0]).toBe(tables[1]);
});
