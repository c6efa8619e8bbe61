// SPDX-License-Identifier: MIT
import { bytesOf, envBytes, rawArgs, rawEnv, textOf } from "@qts/core/bytes";
import { dieUnable, Exit, setProg, usageLine } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { envPlus } from "@qts/daemontools/lib/pathexecenv";
import { chdirBytes } from "@qts/sys/chdir";
import { inheritedFds, pathexec, prepareExec } from "@qts/sys/exec";
import { readdirSync, readFileSync } from "@qts/sys/fs";

export const usage = "envdir dir child";

/** The value envdir sets from a file's bytes, as a byte string (core/bytes.ts): envdir(8). */
export function envValue(b: Buffer): string {
  let n = b.indexOf(10);
  if (n < 0) n = b.length;
  while (n > 0 && (b[n - 1] === 32 || b[n - 1] === 9)) n--;
  const v = Buffer.from(b.subarray(0, n));
  for (let i = 0; i < v.length; i++) if (v[i] === 0) v[i] = 10;
  return v.toString("latin1");
}

export function main(argv: string[], env: Env): number {
  setProg("envdir");
  const dir = argv[0];
  const child = argv.slice(1);
  if (dir === undefined || child.length === 0) {
    // The original's usage exit code is 111, not 100.
    usageLine(usage);
    throw new Exit(EXIT_TEMP);
  }
  let start: string;
  try {
    start = process.cwd();
  } catch (e) {
    dieUnable(EXIT_TEMP, "switch to current directory", e);
  }
  const rawDir = bytesOf(rawArgs(argv)[0] as string);
  try {
    chdirBytes(rawDir);
  } catch (e) {
    dieUnable(EXIT_TEMP, `switch to directory ${dir}`, e);
  }
  // Names and values are byte strings: the child gets the files' very bytes, as from C's envdir.
  let names: string[];
  try {
    names = readdirSync(".", "latin1");
  } catch (e) {
    dieUnable(EXIT_TEMP, `read directory ${dir}`, e);
  }
  const plus: [string, string | undefined][] = [];
  // openreadclose leaves the buffer alone for a vanished file: the previous value (with its NUL) is reused.
  let last: Buffer = Buffer.alloc(0);
  for (const name of names) {
    if (name.startsWith(".")) continue;
    let b: Buffer;
    try {
      b = readFileSync(bytesOf(name));
    } catch (e) {
      if (errnoName(e) !== "ENOENT") dieUnable(EXIT_TEMP, `read ${dir}/${textOf(name)}`, e);
      b = last;
    }
    if (b.length === 0) {
      plus.push([name, undefined]);
      last = b;
    } else {
      const v = envValue(b);
      plus.push([name, v]);
      last = Buffer.concat([bytesOf(v), Buffer.from([0])]);
    }
  }
  try {
    process.chdir(start);
  } catch (e) {
    dieUnable(EXIT_TEMP, "switch to starting directory", e);
  }
  const e = envPlus(rawEnv(env), plus);
  const args = rawArgs(argv).slice(1).map(bytesOf);
  prepareExec(inheritedFds());
  dieUnable(EXIT_TEMP, `run ${child[0]}`, pathexec(args[0] as Buffer, args, envBytes(e)));
}
