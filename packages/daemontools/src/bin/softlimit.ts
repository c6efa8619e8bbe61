// SPDX-License-Identifier: MIT
import { execArgs, execEnv } from "@qts/core/bytes";
import { dieSys, dieUnable, dieUsage, setProg } from "@qts/core/die";
import { SysError } from "@qts/core/errstr";
import { EXIT_TEMP } from "@qts/core/exit";
import { getopt } from "@qts/core/getopt";
import { FIT_VARS, FLOOR, floorMessage, ROOMY } from "@qts/core/memlimit";
import type { Env } from "@qts/core/run";
import { inheritedFds, prepareExec, runsSelf } from "@qts/sys/exec";
import { envEntries, pathCandidates, prepareExecve } from "@qts/sys/execraw";
import { existsSync } from "@qts/sys/fs";
import { getrlimit, prepareSetrlimit, RLIMIT } from "@qts/sys/rlimit";

const ENOENT = 2;

export const usage =
  "softlimit [-a allbytes] [-c corebytes] [-d databytes] [-f filebytes] [-l lockbytes] [-m membytes] [-o openfiles] [-p processes] [-r residentbytes] [-s stackbytes] [-t cpusecs] child";

// softlimit(8): the resources each option sets, in the original's order (-m: four).
const RESOURCES: Record<string, number[]> = {
  a: [RLIMIT.AS],
  c: [RLIMIT.CORE],
  d: [RLIMIT.DATA],
  f: [RLIMIT.FSIZE],
  l: [RLIMIT.MEMLOCK],
  m: [RLIMIT.DATA, RLIMIT.STACK, RLIMIT.MEMLOCK, RLIMIT.AS],
  o: [RLIMIT.NOFILE],
  p: [RLIMIT.NPROC],
  r: [RLIMIT.RSS],
  s: [RLIMIT.STACK],
  t: [RLIMIT.CPU],
};

/**
 * env with memlimit.ts's variables added (those it lacks), for a memory limit below ROOMY: the runtime
 * of our programs reads them before main(), so the one softlimit starts, or any later one of ours in
 * the chain, fits its reservations under the limit and keeps its JIT (softlimit(8), "Memory limits").
 */
function withFitVars(e: Env | Buffer[]): Env | Buffer[] {
  if (Array.isArray(e)) {
    const have = new Set(e.map((b) => b.subarray(0, b.indexOf(0x3d)).toString("latin1")));
    return [...e, ...FIT_VARS.filter(([k]) => !have.has(k)).map(([k, v]) => Buffer.from(`${k}=${v}`))];
  }
  const out: Env = { ...e };
  for (const [k, v] of FIT_VARS) if (out[k] === undefined) out[k] = v;
  return out;
}

/** scan_ulong: the leading digits, wrapping like C's unsigned long; undefined when more follows. */
function scanUlong(s: string): bigint | undefined {
  let u = 0n;
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    u = (u * 10n + BigInt(c)) & 0xffffffffffffffffn;
  }
  return i === s.length ? u : undefined;
}

type Todo = [resource: number, value: bigint | "="][];
type RlimitSet = { r: number; set: () => number; undo: () => number };

/** The options in order, each as the resources it sets and the value ("=": the hard limit). */
function options(argv: string[]): { todo: Todo; rest: string[] } {
  const { opts, rest } = getopt(argv, "a:c:d:f:l:m:o:p:r:s:t:");
  const todo: Todo = [];
  for (const o of opts) {
    const res = RESOURCES[o.opt];
    if (!res) dieUsage(usage);
    const arg = o.arg as string;
    const v = arg === "=" ? "=" : scanUlong(arg);
    if (v === undefined) dieUsage(usage);
    for (const r of res) todo.push([r, v]);
  }
  if (rest.length === 0) dieUsage(usage);
  return { todo, rest };
}

/**
 * Each limit, prepared to be set just before execve, with nothing left to allocate (Bun itself
 * may not run under the limits asked for), and its undo; the soft NOFILE, AS and DATA asked for.
 */
function prepare(todo: Todo): { sets: RlimitSet[]; nofile?: bigint; mem: Record<number, bigint> } {
  const sets: RlimitSet[] = [];
  let nofile: bigint | undefined;
  const mem: Record<number, bigint> = {};
  for (const [r, v] of todo) {
    let lim: { soft: bigint; hard: bigint };
    try {
      lim = getrlimit(r);
    } catch (e) {
      dieSys(EXIT_TEMP, e, "getrlimit failed");
    }
    const soft = v === "=" || v > lim.hard ? lim.hard : v;
    if (r === RLIMIT.NOFILE) nofile = soft;
    if (r === RLIMIT.AS || r === RLIMIT.DATA) mem[r] = soft;
    sets.push({ r, set: prepareSetrlimit(r, { soft, hard: lim.hard }), undo: prepareSetrlimit(r, lim) });
  }
  return { sets, nofile, mem };
}

/** The memory the program will have: the lower of AS and DATA, asked for or as they are. */
function memoryLimit(mem: Record<number, bigint>): bigint {
  let limit = ROOMY;
  for (const r of [RLIMIT.AS, RLIMIT.DATA]) {
    let v = mem[r];
    try {
      v ??= getrlimit(r).soft;
    } catch {}
    if (v !== undefined && v < limit) limit = v;
  }
  return limit;
}

/** Sets the limits in order; on a failure the ones set come back and softlimit dies. */
function setAll(sets: RlimitSet[]): void {
  for (let i = 0; i < sets.length; i++) {
    const err = (sets[i] as RlimitSet).set();
    if (err) {
      for (let j = i - 1; j >= 0; j--) (sets[j] as RlimitSet).undo();
      dieSys(EXIT_TEMP, new SysError("setrlimit", err), "setrlimit failed");
    }
  }
}

export function main(argv: string[], env: Env): number {
  setProg("softlimit");
  const { todo, rest } = options(argv);
  // On failure the old limits come back for the report.
  const { sets, nofile, mem } = prepare(todo);
  const args = execArgs(argv).slice(argv.length - rest.length);
  let cenv = execEnv(env);
  const limit = memoryLimit(mem);
  if (limit < ROOMY) {
    // One of ours could not start under this limit (the runtime's own reservations): say so now, in
    // one line, rather than leave it to a crash before its first line of code.
    if (limit < FLOOR && runsSelf(args[0] as string | Buffer, cenv))
      dieUnable(EXIT_TEMP, `run ${rest[0]}: ${floorMessage(limit)}`);
    cenv = withFitVars(cenv);
  }
  // A program that is not there fails before any limit is set: under a small -m the runtime itself
  // may abort for want of memory while it reports a failed execve (measured: 4 in 20 at 50 MB).
  if (!pathCandidates(args[0] as string | Buffer, envEntries(cenv).path).some((p) => existsSync(p)))
    dieUnable(EXIT_TEMP, `run ${rest[0]}`, new SysError("execve", ENOENT));
  prepareExec(inheritedFds());
  const exec = prepareExecve(args[0] as string | Buffer, args, cenv, nofile);
  // Between setrlimit and execve nothing may need memory: a garbage collection that the runtime
  // started there would make its helper threads and heap under the new limits, and abort (seen with
  // -a 600000000 once the heap happened to be near its next collection). One now, while there is room,
  // makes those threads and leaves the heap far from the next one.
  Bun.gc(true);
  setAll(sets);
  const errno = exec();
  for (let j = sets.length - 1; j >= 0; j--) (sets[j] as RlimitSet).undo();
  dieUnable(EXIT_TEMP, `run ${rest[0]}`, new SysError("execve", errno));
}
