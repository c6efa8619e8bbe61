// SPDX-License-Identifier: MIT
// The spawner side of qmail-send's delivery protocol (spawn.c), shared by
// qmail-lspawn and qmail-rspawn: commands `<slot>messid\0sender\0recip\0` on
// fd 0, reports `<slot><K|Z|D>text\0` on fd 1.
import { closeSync, fstatSync, openSync } from "node:fs";
import { writeAll } from "@qts/core/die";
import { worked } from "@qts/core/rest";
import { type ChildSpec, collect, type Outcome, outcome, readFd } from "./child.ts";

export { type Outcome, readFd } from "./child.ts";

/** conf-spawn: the most deliveries one spawner runs at once; sent to qmail-send as one byte. */
export const AUTO_SPAWN = 120;

/** Collects a child's output, truncating like spawn.c when truncreport > 100. */
export class Output {
  private parts: Buffer[] = [];
  private len = 0;
  constructor(private readonly truncreport: number) {}

  append(data: Buffer): void {
    // spawn.c reads 128 bytes at a time and applies the cut after each read.
    for (let i = 0; i < data.length; i += 128) this.add(data.subarray(i, i + 128));
  }

  private add(chunk: Buffer): void {
    this.parts.push(chunk);
    this.len += chunk.length;
    if (this.truncreport > 100 && this.len > this.truncreport) {
      const truncmess = Buffer.from("\nError report too long, sorry.\n");
      const keep = this.truncreport - truncmess.length - 3;
      const all = Buffer.concat(this.parts).subarray(0, keep);
      this.parts = [all, truncmess];
      this.len = keep + truncmess.length;
    }
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export interface SpawnImpl {
  /** lspawn truncates output to 3000 bytes; rspawn does not (0). */
  truncreport: number;
  /** The report after the slot byte and before the final NUL: letter and text. */
  report(o: Outcome, output: Buffer): Buffer;
  /**
   * Runs one delivery with fdmess as its stdin (the callee must not close
   * it before the child has it; the caller closes it afterwards) and its
   * stdout and stderr appended to out. recip has its "@" at index at.
   */
  run(fdmess: number, sender: Buffer, recip: Buffer, at: number, out: Output): Promise<Outcome>;
}

/** A delivery program: how to start it, and the exit code that stands for an exec failure with this error (qmail's error_temp split). */
export interface DeliverySpec extends ChildSpec {
  execFail: (err: unknown) => number;
}

/**
 * fork + exec of one delivery program, as spawn.c's children: fd 0 is the
 * message, fds 1 and 2 one pipe back to us. Resolves once the pipe reached
 * EOF and the child has exited (a grandchild holding the pipe delays it).
 */
export async function runDelivery(spec: DeliverySpec, fdmess: number, out: Output): Promise<Outcome> {
  try {
    return outcome(await collect({ ...spec, fds: [[0, fdmess]] }, [1, 2], (d) => out.append(d)));
  } catch (e) {
    return { crashed: false, code: spec.execFail(e) };
  }
}

interface Slot {
  used: boolean;
}

/**
 * spawn.c's main loop after chdir to queue/mess: reads commands, checks
 * them, runs deliveries, reports. Resolves with the exit code (0 once fd 0
 * is at EOF and no delivery is left).
 */
export function spawnLoop(impl: SpawnImpl, uidq: number): Promise<number> {
  return new Promise((done) => {
    const slots: Slot[] = Array.from({ length: AUTO_SPAWN }, () => ({ used: false }));
    let flagwriting = true;
    let flagreading = true;
    let inUse = 0;

    const put = (b: Buffer) => {
      if (!flagwriting) return;
      try {
        writeAll(1, b);
      } catch {
        flagwriting = false;
        try {
          closeSync(1);
        } catch {}
      }
    };
    const respond = (delnum: number, rep: Buffer) => put(Buffer.concat([Buffer.from([delnum]), rep, Buffer.from([0])]));
    const err = (delnum: number, s: string) => respond(delnum, Buffer.from(s, "latin1"));
    const maybeExit = () => {
      if (!flagreading && inUse === 0) done(0);
    };

    const docmd = (delnum: number, messid: Buffer, sender: Buffer, recip: Buffer) => {
      if (delnum >= AUTO_SPAWN) return err(delnum, "ZInternal error: delnum too big. (#4.3.5)\n");
      const slot = slots[delnum] as Slot;
      if (slot.used) return err(delnum, "ZInternal error: delnum in use. (#4.3.5)\n");
      // messid, sender and recip still carry their terminating NUL here, as in spawn.c.
      for (let i = 0; i < messid.length; i++) {
        const ch = messid[i] as number;
        if (ch && (i === 0 || ch !== 0x2f) && (ch < 0x30 || ch > 0x39))
          return err(delnum, "DInternal error: messid has nonnumerics. (#5.3.5)\n");
      }
      if (messid.length > 100) return err(delnum, "DInternal error: messid too long. (#5.3.5)\n");
      if (!messid[0]) return err(delnum, "DInternal error: messid too short. (#5.3.5)\n");
      const at = recip.lastIndexOf(0x40);
      if (at < 0) return err(delnum, "DSorry, address must include host name. (#5.1.3)\n");
      let fdmess: number;
      try {
        fdmess = openSync(messid.subarray(0, messid.length - 1).toString("latin1"), "r");
      } catch {
        return err(delnum, "Zqmail-spawn unable to open message. (#4.3.0)\n");
      }
      let st: ReturnType<typeof fstatSync>;
      try {
        st = fstatSync(fdmess);
      } catch {
        closeSync(fdmess);
        return err(delnum, "Zqmail-spawn unable to fstat message. (#4.3.0)\n");
      }
      if (!st.isFile()) {
        closeSync(fdmess);
        return err(delnum, "ZSorry, message has wrong type. (#4.3.5)\n");
      }
      // qmailq has to be trusted: a message file owned by anyone else is refused (spawn.c).
      if (st.uid !== uidq) {
        closeSync(fdmess);
        return err(delnum, "ZSorry, message has wrong owner. (#4.3.5)\n");
      }
      slot.used = true;
      ++inUse;
      const out = new Output(impl.truncreport);
      const s = sender.subarray(0, sender.length - 1);
      const rc = recip.subarray(0, recip.length - 1);
      impl
        .run(fdmess, s, rc, at, out)
        .catch(() => ({ crashed: true, code: 0 }))
        .then((o) => {
          try {
            closeSync(fdmess);
          } catch {}
          respond(delnum, impl.report(o, out.bytes()));
          // A delivery is work: the trim waits for quiet after the last one (core/rest.ts).
          worked();
          slot.used = false;
          --inUse;
          maybeExit();
        });
    };

    let stage = 0;
    let delnum = 0;
    let fields: Buffer[] = [];
    let cur: number[] = [];
    const onData = (chunk: Buffer) => {
      for (const ch of chunk) {
        if (stage === 0) {
          delnum = ch;
          fields = [];
          cur = [];
          stage = 1;
          continue;
        }
        cur.push(ch);
        if (ch) continue;
        fields.push(Buffer.from(cur));
        cur = [];
        if (stage < 3) {
          stage++;
          continue;
        }
        docmd(delnum, fields[0] as Buffer, fields[1] as Buffer, fields[2] as Buffer);
        stage = 0;
      }
    };
    readFd(0, onData, () => {
      flagreading = false;
      maybeExit();
    });

    put(Buffer.from([AUTO_SPAWN]));
  });
}
