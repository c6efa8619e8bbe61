// SPDX-License-Identifier: MIT
import { spawn } from "node:child_process";
import { closeSync, writeSync } from "node:fs";
import { die, dieSys, Exit, errWrite, setProg, sigpipeIgnore } from "@qts/core/die";
import { errorTemp } from "@qts/core/errstr";
import { EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import { getopt } from "@qts/core/getopt";
import type { Env } from "@qts/core/run";
import { pipe } from "@qts/sys/pipe";
import { readChunks } from "../lib/child.ts";

export const usage = "preline cmd [ arg ... ]";

function writeFully(fd: number, b: Uint8Array): void {
  for (let at = 0; at < b.length; ) {
    try {
      at += writeSync(fd, b, at, b.length - at);
    } catch (e) {
      if ((e as { code?: string }).code === "EAGAIN") {
        Bun.sleepSync(1);
        continue;
      }
      throw e;
    }
  }
}

// spec/qmail.md §1: run cmd with $UFLINE, $RPLINE, $DTLINE put before the message (-f, -r, -d leave one out).
export async function main(argv: string[], env: Env): Promise<number> {
  setProg("preline");
  sigpipeIgnore();
  process.exitCode = EXIT_TEMP;
  const ufline = env.UFLINE;
  const rpline = env.RPLINE;
  const dtline = env.DTLINE;
  const dieUsage = (): never => {
    errWrite(`preline: usage: ${usage}\n`);
    throw new Exit(EXIT_USAGE);
  };
  if (ufline === undefined || rpline === undefined || dtline === undefined) dieUsage();
  let fu = true;
  let fr = true;
  let fd = true;
  const g = getopt(argv, "frdFRD");
  for (const { opt } of g.opts) {
    if (opt === "f") fu = false;
    else if (opt === "r") fr = false;
    else if (opt === "d") fd = false;
    else if (opt === "F") fu = true;
    else if (opt === "R") fr = true;
    else if (opt === "D") fd = true;
    else dieUsage();
  }
  const cmd = g.rest;
  if (cmd.length === 0) dieUsage();

  let r: number;
  let w: number;
  try {
    [r, w] = pipe();
  } catch (e) {
    dieSys(EXIT_TEMP, e, "unable to create pipe");
  }
  const child = spawn(cmd[0] as string, cmd.slice(1), {
    stdio: [r, "inherit", "inherit"],
    env: env as NodeJS.ProcessEnv,
  });
  const done = new Promise<{ code: number | null; signal: string | null; error?: unknown }>((ok) => {
    child.once("error", (error) => ok({ code: null, signal: null, error }));
    child.once("exit", (code, signal) => ok({ code, signal }));
  });
  closeSync(r);
  if (child.pid === undefined) {
    // The exec failed: report it as the forked child would, before feeding a pipe nobody reads.
    closeSync(w);
    const res = await done;
    dieSys(errorTemp(res.error) ? EXIT_TEMP : EXIT_USAGE, res.error, "unable to run ", cmd[0] as string);
  }
  try {
    let head = "";
    if (fu) head += ufline;
    if (fr) head += rpline;
    if (fd) head += dtline;
    writeFully(w, Buffer.from(head, "utf8"));
    for (const b of readChunks(0)) writeFully(w, b);
  } catch (e) {
    dieSys(EXIT_TEMP, e, "unable to copy input");
  } finally {
    closeSync(w);
  }
  const res = await done;
  if (res.error !== undefined)
    dieSys(errorTemp(res.error) ? EXIT_TEMP : EXIT_USAGE, res.error, "unable to run ", cmd[0] as string);
  if (res.signal || res.code === null) die(EXIT_TEMP, "child crashed");
  return res.code;
}
