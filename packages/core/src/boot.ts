// SPDX-License-Identifier: MIT
// The multicall entry's start-up: runs before any program's main.
import { writeAll } from "./die.ts";
import { exit, type Main, run } from "./run.ts";

export interface Program {
  main: Main;
  usage?: string;
}

/**
 * Bun raises the soft RLIMIT_NOFILE to the hard limit at start-up; a chain
 * like `softlimit -o 20 tcpserver` must still hold the lower limit. Our own
 * prepareExec passes the intended soft limit in this variable when it execs
 * one of ours, and we put it back here before anything else runs.
 */
export const NOFILE_VAR = "QTS_NOFILE";

export async function boot(
  name: string,
  load: () => Promise<Program>,
  restoreNofile: (soft: bigint) => void,
  version: string,
): Promise<void> {
  const relay = process.env[NOFILE_VAR];
  if (relay !== undefined) {
    delete process.env[NOFILE_VAR];
    if (/^\d+$/.test(relay)) restoreNofile(BigInt(relay));
  }
  const prog = await load();
  const a = process.argv;
  if (a.length === 3 && (a[2] === "--help" || a[2] === "--version")) {
    writeAll(1, a[2] === "--help" ? `usage: ${prog.usage ?? name}\n` : `${name} ${version}\n`);
    exit(0);
  }
  run(prog.main);
}
