// SPDX-License-Identifier: MIT
import { expect, test } from "bun:test";
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { spawn } from "@qts/sys/posixspawn";
import { withThreadIds } from "@qts/sys/threadids";
import { exitCode, waitStatus } from "@qts/sys/waitpid";
import { tmp } from "../lib/harness.ts";

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
    const src = "postMessage(0); setTimeout(() => {}, 30000);";
    let w: Worker | undefined;
    withThreadIds(65534, 65533, () => {
      w = new Worker(URL.createObjectURL(new Blob([src], { type: "application/javascript" })));
    });
    const worker = w as Worker;
    try {
      await new Promise((ok) => worker.addEventListener("message", ok, { once: true }));
      const all = readdirSync("/proc/self/task").map((t) => ids(readFileSync(`/proc/self/task/${t}/status`, "utf8")));
      expect(all.length).toBeGreaterThan(1);
      const mine = ids(readFileSync("/proc/thread-self/status", "utf8"));
      for (const t of all) expect(t).toEqual(mine);
      expect(mine[0]).toBe("Uid: 0 0 0 0");
    } finally {
      worker.terminate();
    }
  },
);
