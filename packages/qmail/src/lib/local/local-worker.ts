// SPDX-License-Identifier: MIT
// qmail-local -W: a long-lived qmail-local serving one user's deliveries for
// qmail-lspawn (qmail-lspawn(8), "Delivery workers"). qmail-lspawn starts it
// with the user's ids, as it would start a qmail-local of its own, and hands
// it deliveries over the unix socket on fd 3, one at a time:
//
//   request  u32 length (little-endian), then qmail-local's eight arguments,
//            each ending in NUL; SCM_RIGHTS: the message, the report pipe
//   reply    one byte: the exit code the delivery's own process would have had
//   length 0 (or end of file) asks the worker to exit
//
// Each delivery starts from what a fresh qmail-local would have: the message
// on fd 0, the report pipe on fds 1 and 2 and nothing else of the last one,
// the working directory and umask the worker started with, and its own copy
// of the environment the worker got. Anything unexpected ends the worker.
import { Exit, fatal, usageLine, writeAll } from "@qts/core/die";
import { EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { dup2 } from "@qts/sys/dup";
import { closeOnExec } from "@qts/sys/exec";
import { closeSync, fstatSync, openSync, readSync } from "@qts/sys/fs";
import { recvFds } from "@qts/sys/scmrights";

/** The most bytes of arguments one request may carry. */
export const MAX_REQUEST = 65536;

/** A request for qmail-local's arguments (text as UTF-8, Buffers as they are). */
export function encodeRequest(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.alloc(4)];
  for (const a of args) parts.push(typeof a === "string" ? Buffer.from(a) : a, Buffer.from([0]));
  const b = Buffer.concat(parts);
  b.writeUInt32LE(b.length - 4, 0);
  return b;
}

/** The request that ends a worker. */
export const QUIT = Buffer.alloc(4);

function closeAll(fds: number[]): void {
  for (const fd of fds)
    try {
      closeSync(fd);
    } catch {}
}

/** Reads from sock into buf from have until it holds want bytes; false at end of file. */
function fill(sock: number, buf: Buffer, have: number, want: number): boolean {
  while (have < want) {
    const r = readSync(sock, buf, have, want - have, null);
    if (r === 0) return false;
    have += r;
  }
  return true;
}

export type Deliver = (raw: string[], env: Env, pid: string) => Promise<number>;

/**
 * Runs one delivery: its exit code, and whether the worker must stop because the delivery threw
 * (as core's run() would end the delivery's own process; this worker's state is then suspect).
 */
async function deliverOnce(delivery: () => Promise<number>): Promise<{ code: number; stop: boolean }> {
  try {
    return { code: await delivery(), stop: false };
  } catch (e) {
    if (e instanceof Exit) return { code: e.code, stop: true };
    fatal("internal error: ", e instanceof Error ? e.message : String(e));
    return { code: EXIT_TEMP, stop: true };
  }
}

/**
 * Serves deliveries from sock until qmail-lspawn asks it to stop or goes away. Returns the exit
 * code: 0 when asked, 100 (and the usage line) when sock is not a socket (run by hand), else the
 * failing delivery's.
 */
export async function serveDeliveries(sock: number, env: Env, deliver: Deliver, usage: string): Promise<number> {
  try {
    if (!fstatSync(sock).isSocket()) throw new Error("not a socket");
  } catch {
    usageLine(usage);
    return 100;
  }
  // The socket is the worker's alone: a delivery's program sees fds 0-2 only, as under a qmail-local of its own.
  closeOnExec(sock);
  const home = process.cwd();
  const mask = process.umask();
  const nul = openSync("/dev/null", "r+");
  const buf = Buffer.alloc(MAX_REQUEST + 4);
  for (let n = 0; ; n++) {
    const got = recvFds(sock, buf);
    if (got.n === 0 || !fill(sock, buf, got.n, 4)) {
      closeAll(got.fds);
      return 0;
    }
    const len = buf.readUInt32LE(0);
    if (len === 0) {
      closeAll(got.fds);
      return 0;
    }
    if (len > MAX_REQUEST || got.fds.length !== 2 || !fill(sock, buf, Math.max(got.n, 4), 4 + len)) {
      closeAll(got.fds);
      return EXIT_TEMP;
    }
    const raw = buf.toString("latin1", 4, 4 + len - 1).split("\0");
    const [mess, report] = got.fds as [number, number];
    dup2(mess, 0);
    dup2(report, 1);
    dup2(report, 2);
    closeAll([mess, report]);
    const { code, stop } = await deliverOnce(async () => {
      process.chdir(home);
      process.umask(mask);
      return await deliver(raw, { ...env }, `${process.pid}_${n}`);
    });
    dup2(nul, 0);
    dup2(nul, 1);
    dup2(nul, 2);
    writeAll(sock, Buffer.from([code & 0xff]));
    if (stop) return code;
  }
}
