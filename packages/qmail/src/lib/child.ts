// SPDX-License-Identifier: MIT
// fork + execvp + wait_pid, as the small .qmail helpers (except, bouncesaying,
// condredirect) run their program: the child's exec failure is its exit 111
// (temporary errno) or 100.
import { spawnSync } from "node:child_process";
import { readSync } from "node:fs";
import { errorTemp } from "@qts/core/errstr";

export type ChildResult = { crashed: true } | { crashed: false; code: number };

/** Runs argv[0] (searched in PATH) with fds 0-2 shared, and waits. */
export function runChild(argv: string[], env: Record<string, string | undefined>): ChildResult {
  const r = spawnSync(argv[0] as string, argv.slice(1), { stdio: "inherit", env: env as NodeJS.ProcessEnv });
  if (r.error) return { crashed: false, code: errorTemp(r.error) ? 111 : 100 };
  if (r.signal || r.status === null) return { crashed: true };
  return { crashed: false, code: r.status };
}

/** Reads fd to EOF in chunks (retrying EINTR/EAGAIN); read errors are thrown. */
export function* readChunks(fd: number, size = 65536): Generator<Buffer> {
  const buf = Buffer.allocUnsafe(size);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, size, null);
    } catch (e) {
      const c = (e as { code?: string }).code;
      if (c === "EINTR") continue;
      if (c === "EAGAIN") {
        Bun.sleepSync(1);
        continue;
      }
      throw e;
    }
    if (n === 0) return;
    yield buf.subarray(0, n);
  }
}
