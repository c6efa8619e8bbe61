// SPDX-License-Identifier: MIT
import { describe, expect, test } from "bun:test";
import { run } from "../lib/harness.ts";
import { CLEAN, impls, inheritedFdTable, nonblocking, PROBE, probeSummary } from "./chain.ts";

describe.each(impls("pgrphack"))("pgrphack (%s)", (_w, bin) => {
  test("usage: 100", async () => {
    const r = await run(bin, []);
    expect(r).toMatchObject({ code: 100, stderr: "pgrphack: usage: pgrphack child\n" });
  });

  test("child not found: 111", async () => {
    const r = await run(bin, ["/nonexist"]);
    expect(r).toMatchObject({ code: 111, stderr: "pgrphack: fatal: unable to run /nonexist: file does not exist\n" });
  });

  test("the child leads a new session and process group, same pid", async () => {
    const r = await run("sh", ["-c", `echo $$; exec "$0" sh -c 'ps -o pid=,pgid=,sid= -p $$'`, bin]);
    const [pid, ids] = r.stdout.split("\n");
    expect((ids as string).trim().split(/\s+/)).toEqual([pid, pid, pid] as string[]);
    const [py, ...pre] = CLEAN;
    const probe = probeSummary((await run(py as string, [...pre, bin, ...PROBE])).stdout);
    expect(probe).toContain("SigIgn:\t0000000000000000");
    expect(probe).toContain("SigBlk:\t0000000000000000");
    expect(nonblocking(probe)).toEqual([false, false, false]);
  });
});

test("fds inherited from the parent reach the program, as with the original", async () => {
  const all = impls("pgrphack");
  const tables = await Promise.all(all.map(([, b]) => inheritedFdTable(b, [])));
  expect(tables[0]).toContain("7 -> /dev/null");
  expect(tables[0]).toContain("9 -> /dev/null");
  if (tables[1] !== undefined) expect(tables[0]).toBe(tables[1]);
});
