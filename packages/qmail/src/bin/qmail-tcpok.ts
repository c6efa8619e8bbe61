// SPDX-License-Identifier: MIT
// qmail-tcpok: clears the remote-timeout table queue/lock/tcpto (netqmail's qmail-tcpok.c).
import { dieSys, setProg } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { lockEx } from "@qts/sys/flock";
import { qmailHome } from "../lib/home.ts";
import { clearTable, openLock } from "../lib/tcpto.ts";

export const usage = "qmail-tcpok";

export function main(_argv: string[], env: Env): number {
  setProg("qmail-tcpok");
  const home = qmailHome(env);
  try {
    process.chdir(home);
  } catch (e) {
    dieSys(111, e, "unable to chdir to ", home);
  }
  try {
    process.chdir("queue/lock");
  } catch (e) {
    dieSys(111, e, "unable to chdir to ", home, "/queue/lock");
  }
  let fd = -1;
  try {
    fd = openLock("tcpto");
  } catch (e) {
    dieSys(111, e, "unable to write ", home, "/queue/lock/tcpto");
  }
  try {
    lockEx(fd);
  } catch (e) {
    dieSys(111, e, "unable to lock ", home, "/queue/lock/tcpto");
  }
  try {
    clearTable(fd);
  } catch (e) {
    dieSys(111, e, "unable to clear ", home, "/queue/lock/tcpto");
  }
  return 0;
}
