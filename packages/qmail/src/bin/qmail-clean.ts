// SPDX-License-Identifier: MIT
import { setProg, sigpipeIgnore } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import { restUnlessBusy } from "@qts/core/rest";
import type { Env } from "@qts/core/run";
import { closeSync, opendirSync, readSync, statSync, unlinkSync, writeSync } from "@qts/sys/fs";
import { waitReadable } from "@qts/sys/poll";
import { qmailHome } from "../lib/home.ts";
import { cleanRequest } from "../lib/queue/clean.ts";

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

/** Fd 0 read a NUL-terminated line at a time, as qmail-clean.c's getln(&ssin, &line, &match, '\0'). */
class NulLines {
  private readonly buf = Buffer.alloc(1024);
  private pending: number[] = [];
  private len = 0;
  private pos = 0;

  /** The next line with its NUL; undefined at EOF or on a read error (a partial line is dropped). */
  getln(): Buffer | undefined {
    for (;;) {
      if (this.pos >= this.len && !this.fill()) return undefined;
      const z = this.buf.indexOf(0, this.pos);
      if (z >= 0 && z < this.len) {
        this.pending.push(...this.buf.subarray(this.pos, z + 1));
        this.pos = z + 1;
        const line = Buffer.from(this.pending);
        this.pending = [];
        return line;
      }
      this.pending.push(...this.buf.subarray(this.pos, this.len));
      this.pos = this.len;
    }
  }

  /** Refills the buffer, retrying EAGAIN; false at EOF or on another error. */
  private fill(): boolean {
    // Quiet for a while: give back what start-up or the last requests faulted in (core/rest.ts).
    restUnlessBusy((ms) => waitReadable(0, ms));
    for (;;) {
      try {
        this.len = readSync(0, this.buf, 0, this.buf.length, null);
      } catch (e) {
        if (errnoName(e) === "EAGAIN") continue;
        this.len = 0;
      }
      this.pos = 0;
      return this.len > 0;
    }
  }
}

function respond(ch: string): void {
  try {
    writeSync(1, ch);
  } catch {
    throw new Gone();
  }
}

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
  const input = new NulLines();
  let cleanuploop = 0;
  try {
    for (;;) {
      if (cleanuploop) --cleanuploop;
      else {
        cleanuppid();
        cleanuploop = 30;
      }
      // EOF or a read error ends the program.
      const line = input.getln();
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
