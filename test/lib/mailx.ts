// SPDX-License-Identifier: MIT
// Debian's bsd-mailx, downloaded and unpacked (not installed: installing it would pull in an MTA).
import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./harness.ts";

export interface Mailx {
  bin: string;
  /** For LD_LIBRARY_PATH: the unpacked liblockfile. */
  lib: string;
}

const CACHE = join(tmpdir(), "qts-mailx-cache");

/** The unpacked bsd-mailx, fetched once per machine; undefined when apt-get download is not possible. */
export async function fetchMailx(): Promise<Mailx | undefined> {
  const bin = join(CACHE, "root/usr/bin/bsd-mailx");
  const lib = join(CACHE, "root/usr/lib/x86_64-linux-gnu");
  if (existsSync(bin)) return { bin, lib };
  mkdirSync(CACHE, { recursive: true });
  for (const pkg of ["bsd-mailx", "liblockfile1"]) {
    const r = await run("apt-get", ["download", pkg], { cwd: CACHE, timeout: 60_000 });
    if (r.code !== 0) return undefined;
  }
  const r = await run("sh", ["-c", 'for f in *.deb; do dpkg -x "$f" root || exit 1; done'], { cwd: CACHE });
  if (r.code !== 0 || !existsSync(bin)) return undefined;
  return { bin, lib };
}
