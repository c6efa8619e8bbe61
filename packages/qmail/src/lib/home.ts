// SPDX-License-Identifier: MIT
import { dirname, join } from "@qts/core/path";
import type { Env } from "@qts/core/run";
import { existsSync, realpathSync } from "@qts/sys/fs";
import { AUTO_QMAIL } from "./conf.ts";

/** The file `make setup QMAIL=<dir>` writes beside the installed executable. */
export const HOME_MARKER = ".qmail-home";

let cached: string | undefined;

/**
 * QMAILHOME. C qmail compiles it in; ours is recorded at install: an executable
 * installed as <home>/bin/qts with <home>/bin/.qmail-home beside it uses <home>,
 * whatever the caller's environment says (the path comes from the kernel, not
 * the caller). The checkout's own bin/ uses $QMAILHOME, else /var/qmail.
 */
export function qmailHome(env: Env = process.env): string {
  if (cached !== undefined) return cached;
  let exe = "";
  try {
    exe = realpathSync(process.execPath);
  } catch {}
  const bin = dirname(exe);
  if (exe && existsSync(join(bin, HOME_MARKER))) cached = dirname(bin);
  else cached = env.QMAILHOME || AUTO_QMAIL;
  return cached;
}

/** Forgets the cached home (tests that switch homes in one process). */
export function resetHome(): void {
  cached = undefined;
}
