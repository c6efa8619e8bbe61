// SPDX-License-Identifier: MIT
// qmail-tcpok: clears the remote-timeout table queue/lock/tcpto (netqmail's qmail-tcpok.c).
import { dieUnable, setProg } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { lockEx } from "@qts/sys/flock";
import { qmailHome } from "../lib/home.ts";
import { clearTable, openLock } from "../lib/remote/tcpto.ts";

export const usage = "qmail-tcpok";

export function main(_argv: string[], env: Env): number {
  setProg("qmail-tcpok");
  const home = qmailHome(env);
  try {
    process.chdir(home);
  } catch (e) {
    dieUnable(111, `chdir to ${home}`, e);
  }
  try {
    process.chdir("queue/lock");
  } catch (e) {
    dieUnable(111, `chdir to ${home}/queue/lock`, e);
  }
  let fd = -1;
  try {
    fd = openLock("tcpto");
  } catch (e) {
    dieUnable(111, `write ${home}/queue/lock/tcpto`, e);
  }
  try {
    lockEx(fd);
  } catch (e) {
    dieUnable(111, `lock ${home}/queue/lock/tcpto`, e);
  }
  try {
    clearTable(fd);
  } catch (e) {
    dieUnable(111, `clear ${home}/queue/lock/tcpto`, e);
  }
  return 0;
}
