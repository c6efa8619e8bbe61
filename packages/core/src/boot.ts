// SPDX-License-Identifier: MIT
// The multicall entry's start-up: runs before any program's main.
import { readdirSync, readlinkSync } from "@qts/sys/fs";
import { JSC_MARK, markedOptions, NOFILE_VAR } from "./conf.ts";
import { setProg, writeAll } from "./die.ts";
import { EXIT_TEMP } from "./exit.ts";
import { FIT_VARS, FLOOR, floorMessage, hasFitVars, memLimit, ROOMY } from "./memlimit.ts";
import { restAfterStart } from "./rest.ts";
import { exit, type Main, run } from "./run.ts";

export interface Program {
  main: Main;
  usage?: string;
}

function fatal(name: string, text: string): never {
  try {
    writeAll(2, `${name}: fatal: ${text}\n`);
  } catch {}
  exit(EXIT_TEMP);
}

/** True when fds 0-2 and the runtime's own (anonymous inodes: epoll, eventfd) are all the process holds. */
function onlyStdFds(): boolean {
  try {
    for (const f of readdirSync("/proc/self/fd")) {
      if (Number(f) < 3) continue;
      try {
        if (!readlinkSync(`/proc/self/fd/${f}`).startsWith("anon_inode:")) return false;
      } catch {} // the directory's own fd, closed by now
    }
    return true;
  } catch {
    return false;
  }
}

/**
 * Under a memory limit (softlimit -m, -a, -d): below FLOOR, one fatal line.
 * Below ROOMY without the variables of memlimit.ts, the runtime may have
 * started without its JIT (bun:ffi needs it): when it has, and the process
 * holds no fd of its parent's beyond 0-2 (the runtime marked those
 * close-on-exec, and only bun:ffi could clear the flag), and its arguments and
 * environment are UTF-8, the program starts again, same pid and arguments,
 * with the variables added. Otherwise it goes
 * on; a bun:ffi call then ends it with one line (sys/ffi.ts). Returns whether
 * bun:ffi works.
 */
async function fitMemory(name: string): Promise<boolean> {
  const lim = memLimit();
  if (lim === undefined || lim >= ROOMY) return true;
  if (lim < FLOOR) fatal(name, floorMessage(lim));
  if (hasFitVars(process.env)) return true;
  try {
    const { dlopen } = await import("bun:ffi");
    dlopen("libc.so.6", { getpid: { args: [], returns: "i32" } }).close();
    return true; // the JIT is on
  } catch {}
  if (!onlyStdFds()) return false;
  // process.execve takes text: arguments or environment that are not UTF-8 would not survive.
  if (!(await import("./bytes.ts")).textIsExact()) return false;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  for (const [k, v] of FIT_VARS) env[k] ??= v;
  try {
    // "qts NAME args": the entry took NAME out of process.argv; it goes back in.
    const self = process.argv0.slice(process.argv0.lastIndexOf("/") + 1);
    const args = process.argv.slice(2);
    process.execve?.(process.execPath, [process.argv0, ...(self === name ? [] : [name]), ...args], env);
  } catch {}
  return false;
}

export async function boot(
  name: string,
  load: () => Promise<Program>,
  restoreNofile: (soft: bigint) => void,
  version: string,
  about: () => Promise<string> = async () => "",
): Promise<void> {
  setProg(name);
  const jit = await fitMemory(name);
  // The soft RLIMIT_NOFILE our exec relayed (conf.ts), put back before anything else runs.
  const relay = process.env[NOFILE_VAR];
  if (relay !== undefined) {
    delete process.env[NOFILE_VAR];
    // Best effort, and only with bun:ffi at hand (without the JIT a bun:ffi call ends the program).
    if (jit && /^\d+$/.test(relay)) restoreNofile(BigInt(relay));
  }
  // The JavaScriptCore options our exec or spawn added (conf.ts) did their work when the runtime started.
  const mark = process.env[JSC_MARK];
  if (mark !== undefined) {
    delete process.env[JSC_MARK];
    for (const k of markedOptions(mark)) delete process.env[k];
  }
  let prog: Program;
  try {
    prog = await load();
  } catch (e) {
    // A module that failed to load (a bun:ffi call at its top level, say) is one line, as run() reports.
    fatal(name, e instanceof Error ? e.message : String(e));
  }
  const a = process.argv;
  if (a.length === 3 && (a[2] === "--help" || a[2] === "--version")) {
    // --help: the usage line, then what the program does and its man page (from the page's header).
    writeAll(1, a[2] === "--help" ? `usage: ${prog.usage ?? name}\n${await about()}` : `${name} ${version}\n`);
    exit(0);
  }
  // Memory at rest (rest.ts): only with bun:ffi at hand (without the JIT a bun:ffi call ends the program).
  if (jit) restAfterStart();
  run(prog.main);
}
