// SPDX-License-Identifier: MIT
import { execArgs, execEnv } from "@qts/core/bytes";
import { dieSys, dieUsage, setProg } from "@qts/core/die";
import { SysError } from "@qts/core/errstr";
import { EXIT_TEMP } from "@qts/core/exit";
import { getopt } from "@qts/core/getopt";
import type { Env } from "@qts/core/run";
import { inheritedFds, prepareExec } from "@qts/sys/exec";
import { preparePathexec } from "@qts/sys/execraw";
import { getrlimit, prepareSetrlimit, RLIMIT } from "@qts/sys/rlimit";

export const usage =
  "softlimit [-a allbytes] [-c corebytes] [-d databytes] [-f filebytes] [-l lockbytes] [-m membytes] [-o openfiles] [-p processes] [-r residentbytes] [-s stackbytes] [-t cpusecs] child";

// spec/daemontools-ucspi.md §5: the resources each option sets, in the original's order (-m: four).
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

export function main(argv: string[], env: Env): number {
  setProg("softlimit");
  const { opts, rest } = getopt(argv, "a:c:d:f:l:m:o:p:r:s:t:");
  const todo: [number, bigint | "="][] = [];
  for (const o of opts) {
    const res = RESOURCES[o.opt];
    if (!res) dieUsage(usage);
    const arg = o.arg as string;
    const v = arg === "=" ? "=" : scanUlong(arg);
    if (v === undefined) dieUsage(usage);
    for (const r of res) todo.push([r, v]);
  }
  if (rest.length === 0) dieUsage(usage);
  // Applied just before execve, with nothing left to allocate: Bun itself may not run under the
  // limits asked for (DESIGN.md "Known traps"). On failure the old limits come back for the report.
  const sets: { r: number; set: () => number; undo: () => number }[] = [];
  let nofile: bigint | undefined;
  for (const [r, v] of todo) {
    let lim: { soft: bigint; hard: bigint };
    try {
      lim = getrlimit(r);
    } catch (e) {
      dieSys(EXIT_TEMP, e, "getrlimit failed");
    }
    const soft = v === "=" || v > lim.hard ? lim.hard : v;
    if (r === RLIMIT.NOFILE) nofile = soft;
    sets.push({ r, set: prepareSetrlimit(r, { soft, hard: lim.hard }), undo: prepareSetrlimit(r, lim) });
  }
  prepareExec(inheritedFds());
  const args = execArgs(argv).slice(argv.length - rest.length);
  const exec = preparePathexec(args[0] as string | Buffer, args, execEnv(env), nofile);
  for (let i = 0; i < sets.length; i++) {
    const err = (sets[i] as (typeof sets)[number]).set();
    if (err) {
      for (let j = i - 1; j >= 0; j--) (sets[j] as (typeof sets)[number]).undo();
      dieSys(EXIT_TEMP, new SysError("setrlimit", err), "setrlimit failed");
    }
  }
  const err = exec();
  for (let j = sets.length - 1; j >= 0; j--) (sets[j] as (typeof sets)[number]).undo();
  dieSys(EXIT_TEMP, err, "unable to run ", rest[0] as string);
}
