// SPDX-License-Identifier: MIT
import { readdirSync, readFileSync } from "node:fs";
import { dieSys, Exit, errWrite, setProg } from "@qts/core/die";
import { EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { envPlus } from "@qts/daemontools/lib/pathexecenv";
import { inheritedFds, pathexec, prepareExec } from "@qts/sys/exec";

export const usage = "envdir dir child";

/** The value envdir sets from a file's bytes: spec/daemontools-ucspi.md §5. */
export function envValue(b: Buffer): string {
  let n = b.indexOf(10);
  if (n < 0) n = b.length;
  while (n > 0 && (b[n - 1] === 32 || b[n - 1] === 9)) n--;
  const v = Buffer.from(b.subarray(0, n));
  for (let i = 0; i < v.length; i++) if (v[i] === 0) v[i] = 10;
  return v.toString();
}

export function main(argv: string[], env: Env): number {
  setProg("envdir");
  const dir = argv[0];
  const child = argv.slice(1);
  if (dir === undefined || child.length === 0) {
    // The original's usage exit code is 111, not 100.
    errWrite(`envdir: usage: ${usage}\n`);
    throw new Exit(EXIT_TEMP);
  }
  let start: string;
  try {
    start = process.cwd();
  } catch (e) {
    dieSys(EXIT_TEMP, e, "unable to switch to current directory");
  }
  try {
    process.chdir(dir);
  } catch (e) {
    dieSys(EXIT_TEMP, e, "unable to switch to directory ", dir);
  }
  let names: string[];
  try {
    names = readdirSync(".");
  } catch (e) {
    dieSys(EXIT_TEMP, e, "unable to read directory ", dir);
  }
  const plus: [string, string | undefined][] = [];
  // openreadclose leaves the buffer alone for a vanished file: the previous value (with its NUL) is reused.
  let last: Buffer = Buffer.alloc(0);
  for (const name of names) {
    if (name.startsWith(".")) continue;
    let b: Buffer;
    try {
      b = readFileSync(name);
    } catch (e) {
      if ((e as { code?: string }).code !== "ENOENT") dieSys(EXIT_TEMP, e, "unable to read ", dir, "/", name);
      b = last;
    }
    if (b.length === 0) {
      plus.push([name, undefined]);
      last = b;
    } else {
      const v = envValue(b);
      plus.push([name, v]);
      last = Buffer.concat([Buffer.from(v), Buffer.from([0])]);
    }
  }
  try {
    process.chdir(start);
  } catch (e) {
    dieSys(EXIT_TEMP, e, "unable to switch to starting directory");
  }
  const e = envPlus(env, plus);
  prepareExec(inheritedFds());
  dieSys(EXIT_TEMP, pathexec(child[0] as string, child, e), "unable to run ", child[0] as string);
}
