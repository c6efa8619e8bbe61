// SPDX-License-Identifier: MIT
// predate child [arg ...]: runs child with a Date: line (local time, numeric
// offset) put in front of stdin (predate(1), netqmail's predate.c).
import { spawn } from "node:child_process";
import { readSync } from "node:fs";
import { die, dieSys, Exit, setProg, sigpipeIgnore, usageLine } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import type { Env } from "@qts/core/run";
import { setBlocking } from "@qts/sys/exec";
import { date822 } from "../lib/date822.ts";

export const usage = "predate child";

export async function main(argv: string[], env: Env): Promise<number> {
  setProg("predate");
  sigpipeIgnore();
  const child = argv[0];
  if (child === undefined) {
    usageLine(usage);
    throw new Exit(100);
  }
  try {
    setBlocking(0, true);
  } catch {}
  const p = spawn(child, argv.slice(1), { env: env as NodeJS.ProcessEnv, stdio: ["pipe", "inherit", "inherit"] });
  const done = new Promise<number>((ok) => {
    p.once("error", (e) => {
      try {
        dieSys(111, e, "unable to run ", child);
      } catch (x) {
        ok((x as Exit).code);
      }
    });
    p.once("exit", (code, sig) => {
      if (sig) {
        try {
          die(111, "child crashed");
        } catch (x) {
          ok((x as Exit).code);
        }
      } else ok(code ?? 111);
    });
  });
  const stdin = p.stdin;
  if (stdin) {
    stdin.on("error", () => {});
    const write = (b: Buffer | string) =>
      new Promise<void>((ok) => {
        if (stdin.write(b)) ok();
        else stdin.once("drain", ok).once("close", ok);
      });
    await write(`Date: ${date822()}\n`);
    const buf = Buffer.allocUnsafe(65536);
    for (;;) {
      let n = 0;
      try {
        n = readSync(0, buf, 0, buf.length, null);
      } catch (e) {
        if (errnoName(e) === "EAGAIN") {
          await Bun.sleep(1);
          continue;
        }
        break;
      }
      if (n === 0 || stdin.destroyed) break;
      await write(Buffer.from(buf.subarray(0, n)));
    }
    stdin.end();
  }
  return await done;
}
