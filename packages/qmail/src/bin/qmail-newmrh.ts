// SPDX-License-Identifier: MIT
import { cdbWriteAtomic } from "@qts/cdb/cdb";
import { dieUnable, setProg } from "@qts/core/die";
import { errorStr } from "@qts/core/errstr";
import { EXIT_OK, EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { closeSync, openSync, readFileSync } from "@qts/sys/fs";
import { qmailHome } from "../lib/home.ts";

export const usage = "qmail-newmrh";

/**
 * The keys of control/morercpthosts as qmail-newmrh.c reads it: each line
 * lower-cased (ASCII), trailing spaces, tabs and newlines removed; empty
 * lines and lines starting with "#" skipped.
 */
export function mrhKeys(text: Buffer): Buffer[] {
  const keys: Buffer[] = [];
  let at = 0;
  while (at < text.length) {
    let nl = text.indexOf(10, at);
    if (nl < 0) nl = text.length;
    let end = nl;
    while (end > at && (text[end - 1] === 0x20 || text[end - 1] === 0x09 || text[end - 1] === 0x0a)) end--;
    if (end > at && text[at] !== 0x23) {
      const k = Buffer.from(text.subarray(at, end));
      for (let i = 0; i < k.length; i++)
        if ((k[i] as number) >= 0x41 && (k[i] as number) <= 0x5a) k[i] = (k[i] as number) + 32;
      keys.push(k);
    }
    at = nl + 1;
  }
  return keys;
}

// qmail-newmrh(8): control/morercpthosts -> control/morercpthosts.tmp, fsync, rename over morercpthosts.cdb.
export function main(_argv: string[], env: Env): number {
  setProg("qmail-newmrh");
  process.umask(0o033);
  const home = qmailHome(env);
  try {
    process.chdir(home);
  } catch (e) {
    dieUnable(EXIT_TEMP, `chdir to ${home}`, e);
  }
  let text: Buffer;
  try {
    const fd = openSync("control/morercpthosts", "r");
    try {
      text = readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    dieUnable(EXIT_TEMP, "read control/morercpthosts", e);
  }
  try {
    cdbWriteAtomic("control/morercpthosts.cdb", "control/morercpthosts.tmp", (m) => {
      for (const k of mrhKeys(text)) m.add(k, "");
    });
  } catch (e) {
    // the C's strerr_die2sys here puts no ": " between the text and the error; neither do we
    if ((e as { step?: string }).step === "rename")
      dieUnable(EXIT_TEMP, `move control/morercpthosts.tmp to control/morercpthosts.cdb${errorStr(e)}`);
    dieUnable(EXIT_TEMP, "write to control/morercpthosts.tmp", e);
  }
  return EXIT_OK;
}
