// SPDX-License-Identifier: MIT
import { cdbWriteAtomic } from "@qts/cdb/cdb";
import { die, dieUnable, setProg } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { EXIT_OK, EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { closeSync, openSync, readFileSync } from "@qts/sys/fs";
import { qmailHome } from "../lib/home.ts";
import { assignRecords } from "../lib/users/users-assign.ts";

export const usage = "qmail-newu";

// qmail-newu(8): users/assign -> users/cdb.tmp, fsync, rename over users/cdb; 111 on any trouble.
export function main(_argv: string[], env: Env): number {
  setProg("qmail-newu");
  process.umask(0o033);
  try {
    process.chdir(qmailHome(env));
  } catch {
    dieUnable(EXIT_TEMP, "chdir");
  }
  let fd: number;
  try {
    fd = openSync("users/assign", "r");
  } catch {
    dieUnable(EXIT_TEMP, "open users/assign");
  }
  let text: Buffer;
  try {
    text = readFileSync(fd);
  } catch {
    dieUnable(EXIT_TEMP, "read users/assign");
  } finally {
    closeSync(fd);
  }
  try {
    cdbWriteAtomic("users/cdb", "users/cdb.tmp", (m) => {
      for (const [k, v] of assignRecords(text)) m.add(k, v);
    });
  } catch (e) {
    const step = (e as { step?: string }).step;
    if (step === "format") die(EXIT_TEMP, "bad format in users/assign");
    if (step === "create") dieUnable(EXIT_TEMP, "open users/cdb.tmp");
    if (step === "rename") dieUnable(EXIT_TEMP, "move users/cdb.tmp to users/cdb");
    if (errnoName(e) === "ENOMEM") die(EXIT_TEMP, "out of memory");
    dieUnable(EXIT_TEMP, "write users/cdb.tmp");
  }
  return EXIT_OK;
}
