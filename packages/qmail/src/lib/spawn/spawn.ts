// SPDX-License-Identifier: MIT
// The spawner side of qmail-send's delivery protocol (spawn.c), shared by
// qmail-lspawn and qmail-rspawn: commands `<slot>messid\0sender\0recip\0` on
// fd 0, reports `<slot><K|Z|D>text\0` on fd 1.
import { writeAll } from "@qts/core/die";
import { worked } from "@qts/core/rest";
import { closeSync, fstatSync, openSync } from "@qts/sys/fs";
import { type ChildSpec, collect, type Outcome, outcome, readFd } from "../child.ts";
import { AUTO_SPAWN } from "../conf.ts";

export { type Outcome, readFd } from "../child.ts";

// conf-spawn (lib/conf.ts): the most deliveries one spawner runs at once; sent to qmail-send as one byte.

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

/** docmd's checks of messid (still with its NUL, as in spawn.c): the error report, or undefined when it is fine. */
function messidError(messid: Buffer): string | undefined {
  for (let i = 0; i < messid.length; i++) {
    const ch = messid[i] as number;
    if (ch && (i === 0 || ch !== 0x2f) && (ch < 0x30 || ch > 0x39))
      return "DInternal error: messid has nonnumerics. (#5.3.5)\n";
  }
  if (messid.length > 100) return "DInternal error: messid too long. (#5.3.5)\n";
  if (!messid[0]) return "DInternal error: messid too short. (#5.3.5)\n";
  return undefined;
}

/**
 * docmd's open_read and fstat of the message file (messid with its NUL): the open fd, or the error
 * report (nothing left open). Only a regular file owned by uidq is taken.
 */
function openMessage(messid: Buffer, uidq: number): number | string {
  let fdmess: number;
  try {
    fdmess = openSync(messid.subarray(0, messid.length - 1).toString("latin1"), "r");
  } catch {
    return "Zqmail-spawn unable to open message. (#4.3.0)\n";
  }
  let st: ReturnType<typeof fstatSync>;
  try {
    st = fstatSync(fdmess);
  } catch {
    closeSync(fdmess);
    return "Zqmail-spawn unable to fstat message. (#4.3.0)\n";
  }
  let why: string | undefined;
  if (!st.isFile()) why = "ZSorry, message has wrong type. (#4.3.5)\n";
  // qmailq has to be trusted: a message file owned by anyone else is refused (spawn.c).
  else if (st.uid !== uidq) why = "ZSorry, message has wrong owner. (#4.3.5)\n";
  if (why === undefined) return fdmess;
  closeSync(fdmess);
  return why;
}

/** spawn.c's state: the delivery slots, the two flags, and getcmd's partial command. */
class Spawner {
  private readonly used: boolean[] = Array.from({ length: AUTO_SPAWN }, () => false);
  private flagwriting = true;
  private flagreading = true;
  private inUse = 0;
  /** getcmd's stage: 0 the slot byte next, 1-3 messid, sender, recip. */
  private stage = 0;
  private delnum = 0;
  private fields: Buffer[] = [];
  private cur: number[] = [];

  constructor(
    private readonly impl: SpawnImpl,
    private readonly uidq: number,
    private readonly done: (code: number) => void,
  ) {}

  /** okwrite: after the first failed write to fd 1, nothing more is written (and fd 1 is closed). */
  put(b: Buffer): void {
    if (!this.flagwriting) return;
    try {
      writeAll(1, b);
    } catch {
      this.flagwriting = false;
      try {
        closeSync(1);
      } catch {}
    }
  }

  private respond(delnum: number, rep: Buffer): void {
    this.put(Buffer.concat([Buffer.from([delnum]), rep, Buffer.from([0])]));
  }

  private err(delnum: number, s: string): void {
    this.respond(delnum, Buffer.from(s, "latin1"));
  }

  private maybeExit(): void {
    if (!this.flagreading && this.inUse === 0) this.done(0);
  }

  /** fd 0 at its end: exit once the last delivery has reported. */
  endOfInput(): void {
    this.flagreading = false;
    this.maybeExit();
  }

  /** getcmd: command bytes; each complete `<slot>messid\0sender\0recip\0` goes to docmd. */
  getcmd(chunk: Buffer): void {
    for (const ch of chunk) {
      if (this.stage === 0) {
        this.delnum = ch;
        this.fields = [];
        this.cur = [];
        this.stage = 1;
        continue;
      }
      this.cur.push(ch);
      if (ch) continue;
      this.fields.push(Buffer.from(this.cur));
      this.cur = [];
      if (this.stage < 3) {
        this.stage++;
        continue;
      }
      this.docmd(this.delnum, this.fields[0] as Buffer, this.fields[1] as Buffer, this.fields[2] as Buffer);
      this.stage = 0;
    }
  }

  /** docmd: checks one command and starts its delivery, or reports why not. The fields carry their NULs. */
  private docmd(delnum: number, messid: Buffer, sender: Buffer, recip: Buffer): void {
    const at = recip.lastIndexOf(0x40);
    const fdmess = this.commandError(delnum, messid, at) ?? openMessage(messid, this.uidq);
    if (typeof fdmess === "string") this.err(delnum, fdmess);
    else this.start(delnum, fdmess, sender.subarray(0, sender.length - 1), recip.subarray(0, recip.length - 1), at);
  }

  /** docmd's checks before the message is opened, in its order: the error report, or undefined. */
  private commandError(delnum: number, messid: Buffer, at: number): string | undefined {
    if (delnum >= AUTO_SPAWN) return "ZInternal error: delnum too big. (#4.3.5)\n";
    if (this.used[delnum]) return "ZInternal error: delnum in use. (#4.3.5)\n";
    const bad = messidError(messid);
    if (bad !== undefined) return bad;
    if (at < 0) return "DSorry, address must include host name. (#5.1.3)\n";
    return undefined;
  }

  /** Runs one delivery in slot delnum; its report goes out when it is over, and the slot is free again. */
  private start(delnum: number, fdmess: number, sender: Buffer, recip: Buffer, at: number): void {
    this.used[delnum] = true;
    ++this.inUse;
    const out = new Output(this.impl.truncreport);
    this.impl
      .run(fdmess, sender, recip, at, out)
      .catch(() => ({ crashed: true, code: 0 }))
      .then((o) => {
        try {
          closeSync(fdmess);
        } catch {}
        this.respond(delnum, this.impl.report(o, out.bytes()));
        // A delivery is work: the trim waits for quiet after the last one (core/rest.ts).
        worked();
        this.used[delnum] = false;
        --this.inUse;
        this.maybeExit();
      });
  }
}

/**
 * spawn.c's main loop after chdir to queue/mess: reads commands, checks
 * them, runs deliveries, reports. Resolves with the exit code (0 once fd 0
 * is at EOF and no delivery is left).
 */
export function spawnLoop(impl: SpawnImpl, uidq: number): Promise<number> {
  return new Promise((done) => {
    const sp = new Spawner(impl, uidq, done);
    readFd(
      0,
      (chunk) => sp.getcmd(chunk),
      () => sp.endOfInput(),
    );
    sp.put(Buffer.from([AUTO_SPAWN]));
  });
}
