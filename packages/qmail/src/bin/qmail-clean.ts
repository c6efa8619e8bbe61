// SPDX-License-Identifier: MIT
import { closeSync, opendirSync, readSync, statSync, unlinkSync, writeSync } from "node:fs";
import { setProg, sigpipeIgnore } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import { restUnlessBusy } from "@qts/core/rest";
import type { Env } from "@qts/core/run";
import { waitReadable } from "@qts/sys/poll";
import { cleanRequest } from "../lib/clean.ts";
import { qmailHome } from "../lib/home.ts";

export const usage = "qmail-clean";

// 36 hours: pid/ files older than this are left over from a dead qmail-queue (qmail-clean.c).
const OSSIFIED = 129600;

function cleanuppid(): void {
  const now = Math.floor(Date.now() / 1000);
  let dir: ReturnType<typeof opendirSync>;
  try {
    dir = opendirSync("pid");
  } catch {
    return;
  }
  try {
    for (let d = dir.readSync(); d; d = dir.readSync()) {
      const fn = `pid/${d.name}`;
      try {
        if (now < Math.floor(statSync(fn).atimeMs / 1000) + OSSIFIED) continue;
        unlinkSync(fn);
      } catch {}
    }
  } catch {
  } finally {
    try {
      dir.closeSync();
    } catch {}
  }
}

class Gone extends Error {}

// qmail-clean.c: `foop/N\0` or `todo/N\0` on fd 0, one byte back on fd 1.
export function main(_argv: string[], env: Env): number {
  setProg("qmail-clean");
  sigpipeIgnore();
  try {
    process.chdir(qmailHome(env));
    process.chdir("queue");
  } catch {
    return EXIT_TEMP;
  }
  const respond = (ch: string) => {
    try {
      writeSync(1, ch);
    } catch {
      throw new Gone();
    }
  };
  const buf = Buffer.alloc(1024);
  let pending: number[] = [];
  let cleanuploop = 0;
  let len = 0;
  let pos = 0;
  try {
    for (;;) {
      if (cleanuploop) --cleanuploop;
      else {
        cleanuppid();
        cleanuploop = 30;
      }
      // getln up to and including a NUL; EOF or a read error ends the program.
      let line: Buffer | undefined;
      for (;;) {
        if (pos >= len) {
          // Quiet for a while: give back what start-up or the last requests faulted in (core/rest.ts).
          restUnlessBusy((ms) => waitReadable(0, ms));
          try {
            len = readSync(0, buf, 0, buf.length, null);
          } catch (e) {
            if (errnoName(e) === "EAGAIN") continue;
            len = 0;
          }
          pos = 0;
          if (len <= 0) break;
        }
        const z = buf.indexOf(0, pos);
        if (z >= 0 && z < len) {
          pending.push(...buf.subarray(pos, z + 1));
          pos = z + 1;
          line = Buffer.from(pending);
          pending = [];
          break;
        }
        pending.push(...buf.subarray(pos, len));
        pos = len;
      }
      if (!line) break;
      respond(cleanRequest(line));
    }
  } catch (e) {
    if (e instanceof Gone) return EXIT_USAGE;
    throw e;
  }
  try {
    closeSync(0);
  } catch {}
  return EXIT_OK;
}
