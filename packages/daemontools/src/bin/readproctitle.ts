// SPDX-License-Identifier: MIT
import { setProg } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { readFileSync, readSync } from "@qts/sys/fs";
import { setProcName } from "@qts/sys/procname";
import { proctitleSize, setProctitle } from "@qts/sys/proctitle";

export const usage = "readproctitle arg ... lastarg";

// readproctitle(8): stdin scrolls through the last argument, which ps shows.
export function main(argv: string[], _env: Env): number {
  setProg("readproctitle");
  if (argv.length < 1) return EXIT_USAGE;
  // The argv area as the kernel holds it: every argument, NUL-terminated.
  const size = proctitleSize();
  const area = readFileSync("/proc/self/cmdline").subarray(0, size);
  const lastStart = area.lastIndexOf(0, size - 2) + 1;
  const len = size - 1 - lastStart;
  if (len < 5) return EXIT_USAGE;
  try {
    setProcName("readproctitle");
  } catch {}
  const title = Buffer.from(area);
  const buf = title.subarray(lastStart, size - 1);
  buf.fill(0x2e);
  setProctitle(title.subarray(0, size - 1));
  const chunk = Buffer.alloc(4096);
  for (;;) {
    let r: number;
    try {
      r = readSync(0, chunk, 0, chunk.length, null);
    } catch (e) {
      if (errnoName(e) === "EINTR") continue;
      return EXIT_TEMP;
    }
    if (r === 0) return EXIT_OK;
    for (let i = 0; i < r; i++) {
      const ch = chunk[i] as number;
      if (!ch) continue;
      // The first 3 bytes stay; the rest scrolls left by one.
      buf.copyWithin(3, 4, len);
      buf[len - 1] = ch;
    }
    setProctitle(title.subarray(0, size - 1));
  }
}
