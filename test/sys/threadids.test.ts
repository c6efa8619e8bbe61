// SPDX-License-Identifier: MIT
import { expect, test } from "bun:test";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
// Children start through sys/posixspawn here, not the harness: a spawn from inside withThreadIds is what
// shows the ids it sets.
import { spawn } from "@qts/sys/posixspawn";
import { withThreadIds } from "@qts/sys/threadids";
import { exitCode, waitStatus } from "@qts/sys/waitpid";
import { run, tmp } from "../lib/harness.ts";

const ids = (s: string) =>
  s
    .split("\n")
    .filter((l) => /^(Uid|Gid|Groups):/.test(l))
    .map((l) => l.replace(/\s+/g, " ").trim());

test.skipIf(process.getuid?.() !== 0)(
  "withThreadIds: a child spawned inside runs with uid, gid and groups [gid]; the process keeps its ids",
  () => {
    const before = ids(readFileSync("/proc/thread-self/status", "utf8"));
    const d = tmp();
    const out = join(d, "out");
    const fd = openSync(out, "w");
    const pid = withThreadIds(65534, 65533, () =>
      spawn("/bin/sh", ["sh", "-c", "grep -E '^(Uid|Gid|Groups):' /proc/self/status"], [], { dup2: [[1, fd]] }),
    );
    closeSync(fd);
    expect(exitCode(waitStatus(pid))).toBe(0);
    expect(ids(readFileSync(out, "utf8"))).toEqual([
      "Uid: 65534 65534 65534 65534",
      "Gid: 65533 65533 65533 65533",
      "Groups: 65533",
    ]);
    expect(ids(readFileSync("/proc/thread-self/status", "utf8"))).toEqual(before);
    expect(process.getuid?.()).toBe(0);
  },
);

test.skipIf(process.getuid?.() !== 0)("withThreadIds: an exception from fn still restores the ids", () => {
  const before = ids(readFileSync("/proc/thread-self/status", "utf8"));
  expect(() =>
    withThreadIds(65534, 65534, () => {
      throw new Error("x");
    }),
  ).toThrow("x");
  expect(ids(readFileSync("/proc/thread-self/status", "utf8"))).toEqual(before);
});

test.skipIf(process.getuid?.() !== 0)(
  "withThreadIds: a thread started inside fn (it inherits the switched ids) is put back with the others",
  async () => {
    const r = await run(process.execPath, [join(import.meta.dir, "fixtures/threadids.ts")]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    // the main thread, the runtime's helpers and the worker's threads
    expect(lines.length).toBeGreaterThan(2);
    expect(new Set(lines)).toEqual(new Set(["Uid: 0 0 0 0 Gid: 0 0 0 0"]));
  },
);
