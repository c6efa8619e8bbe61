// SPDX-License-Identifier: MIT
// The sys calls added for ucspi-tcp: dup/dup2, setsockopt/getsockopt, listen, SpawnPool.
import { expect, test } from "bun:test";
import { closeSync, openSync, readFileSync, readSync, writeSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { CHILD_SIGDEFAULT } from "@qts/sys/consts";
import { dup, dup2 } from "@qts/sys/dup";
import { isCloseOnExec } from "@qts/sys/exec";
import { listen } from "@qts/sys/listen";
import { pipe } from "@qts/sys/pipe";
import { getsockoptInt, IPPROTO_TCP, SO_REUSEADDR, SOL_SOCKET, setsockoptInt, TCP_NODELAY } from "@qts/sys/sockopt";
// Children start through SpawnPool here, not the harness: the pool is what these tests check.
import { SpawnPool } from "@qts/sys/spawnpool";
import { reap } from "@qts/sys/waitpid";
import { runSync, tmp, waitFor } from "../lib/harness.ts";

test("dup and dup2: same file, FD_CLOEXEC clear", () => {
  const d = tmp();
  const fd = openSync(join(d, "f"), "w");
  const a = dup(fd);
  expect(isCloseOnExec(a)).toBe(false);
  writeSync(a, "x");
  const b = openSync("/dev/null", "r");
  dup2(fd, b);
  writeSync(b, "y");
  for (const f of [fd, a, b]) closeSync(f);
  expect(readFileSync(join(d, "f"), "utf8")).toBe("xy");
  expect(() => dup(9999)).toThrow();
});

test("setsockopt/getsockopt and listen on a listening socket", async () => {
  const s = createServer();
  await new Promise<void>((ok) => s.listen(0, "127.0.0.1", () => ok()));
  const fd = (s as unknown as { _handle: { fd: number } })._handle.fd;
  expect(getsockoptInt(fd, SOL_SOCKET, SO_REUSEADDR)).not.toBe(0);
  listen(fd, 3);
  const port = (s.address() as { port: number }).port;
  const ss = runSync("ss", ["-ltnH", `sport = :${port}`]).stdout;
  expect(ss.trim().split(/\s+/)[2]).toBe("3");
  s.close();
  const c = createServer();
  const sock = await new Promise<number>((ok) => {
    c.listen(0, "127.0.0.1", () => {
      const cs = require("node:net").connect((c.address() as { port: number }).port, "127.0.0.1", () =>
        ok((cs as unknown as { _handle: { fd: number } })._handle.fd),
      );
    });
  });
  setsockoptInt(sock, IPPROTO_TCP, TCP_NODELAY, 0);
  expect(getsockoptInt(sock, IPPROTO_TCP, TCP_NODELAY)).toBe(0);
  setsockoptInt(sock, IPPROTO_TCP, TCP_NODELAY, 1);
  expect(getsockoptInt(sock, IPPROTO_TCP, TCP_NODELAY)).not.toBe(0);
  c.close();
});

test("SpawnPool: runs on worker threads with fds, env and default signals; exec errors reject", async () => {
  const pool = new SpawnPool(2, CHILD_SIGDEFAULT);
  const [r, w] = pipe();
  const pids = await Promise.all(
    [1, 2, 3].map((i) =>
      pool.spawn(
        "/bin/sh",
        ["sh", "-c", `echo "$X$0 $(grep SigIgn /proc/self/status | cut -f2)"`, String(i)],
        ["X=v"],
        [[1, w]],
      ),
    ),
  );
  closeSync(w);
  for (const pid of pids) {
    const st = await waitFor(() => reap(pid), 5000);
    expect(st?.status).toBe(0);
  }
  const buf = Buffer.alloc(4096);
  let out = "";
  for (;;) {
    const n = readSync(r, buf);
    if (n === 0) break;
    out += buf.subarray(0, n).toString();
  }
  closeSync(r);
  expect(out.trim().split("\n").sort()).toEqual(["v1 0000000000000000", "v2 0000000000000000", "v3 0000000000000000"]);
  await expect(pool.spawn("/nonexistent", ["x"], [], [])).rejects.toMatchObject({ code: "ENOENT" });
  const sync = new SpawnPool(0, []);
  const pid = await sync.spawn("/bin/true", ["true"], [], []);
  expect((await waitFor(() => reap(pid), 5000))?.status).toBe(0);
});
