// SPDX-License-Identifier: MIT
// qmail-tcpto: prints the remote-timeout table queue/lock/tcpto (netqmail's
// qmail-tcpto.c). Messages, fatal ones included, go to stdout as in C.
import { unable, writeAll } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { lockEx } from "@qts/sys/flock";
import { closeSync, constants, openSync, readSync } from "@qts/sys/fs";
import { qmailHome } from "../lib/home.ts";
import { openLock, records, TCPTO_SIZE } from "../lib/remote/tcpto.ts";

export const usage = "qmail-tcpto";

export function main(_argv: string[], env: Env): number {
  const fail = (what: string, e: unknown): number => {
    writeAll(1, `fatal: ${unable(what, e)}\n`);
    return 111;
  };
  try {
    process.chdir(qmailHome(env));
    process.chdir("queue/lock");
  } catch (e) {
    return fail("chdir", e);
  }
  let fdlock: number;
  let fd: number;
  try {
    fdlock = openLock("tcpto");
    fd = openSync("tcpto", constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    return fail("open tcpto", e);
  }
  const buf = Buffer.alloc(TCPTO_SIZE);
  let n: number;
  try {
    lockEx(fdlock);
  } catch (e) {
    return fail("lock tcpto", e);
  }
  try {
    n = readSync(fd, buf, 0, TCPTO_SIZE, null);
  } catch (e) {
    return fail("read tcpto", e);
  } finally {
    closeSync(fd);
    closeSync(fdlock);
  }
  const start = BigInt(Math.floor(Date.now() / 1000));
  let out = "";
  for (const r of records(buf.subarray(0, n))) {
    // record[4] is a signed char in C: counts of 128 and more are skipped
    if (r.count < 1 || r.count > 127) continue;
    // (unsigned long) (start - when): a time in the future wraps around
    const ago = BigInt.asUintN(64, start - BigInt(r.when));
    out += `${r.ip} timed out ${ago} seconds ago; # recent timeouts: ${r.count}\n`;
  }
  writeAll(1, out);
  return 0;
}
