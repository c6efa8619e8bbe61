// SPDX-License-Identifier: MIT
// Whether a file is our own multicall binary: our exec and spawn hand such a
// child the relays of core/conf.ts (NOFILE_VAR, JSC_OPTIONS, START_OPTIONS).
import { statSync } from "./fs.ts";

let self: { dev: number; ino: number } | undefined;

/**
 * True when file is the binary this process runs: the same file, reached through a symbolic link, a
 * hard link (setup --hardlink, make start) or its own name.
 */
export function isSelf(file: string | Uint8Array): boolean {
  try {
    self ??= statSync(process.execPath);
    const s = statSync(typeof file === "string" ? file : Buffer.from(file));
    return s.ino === self.ino && s.dev === self.dev;
  } catch {
    return false;
  }
}

const known = new Map<string, boolean>();

/**
 * isSelf for a program that starts many children (tcpserver, qmail-lspawn): an absolute path's answer is
 * kept. A relative one is looked at each time, in cwd when the child is to start there.
 */
export function isSelfChild(file: string | Uint8Array, cwd?: string | Uint8Array): boolean {
  const f = typeof file === "string" ? Buffer.from(file) : file;
  if (f[0] !== 0x2f) return isSelf(cwd === undefined ? f : Buffer.concat([Buffer.from(cwd), Buffer.from("/"), f]));
  const key = Buffer.from(f).toString("latin1");
  let yes = known.get(key);
  if (yes === undefined) {
    yes = isSelf(f);
    if (known.size < 64) known.set(key, yes);
  }
  return yes;
}
