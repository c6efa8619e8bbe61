// SPDX-License-Identifier: MIT
// qmail-qstat: counts the messages in the queue and those not yet
// preprocessed (netqmail's qmail-qstat.sh: files under queue/mess/* and
// queue/todo, as `find | wc -w` counts them).
import { dieUnable, setProg, writeAll } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { lstatSync } from "@qts/sys/fs";
import { qmailHome } from "../lib/home.ts";
import { readdirRaw } from "../lib/queue/qread.ts";

export const usage = "qmail-qstat";

/** Paths find prints for path: itself and everything below it (symlinks not followed). */
function findCount(path: string): number {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return 0;
  }
  let n = 1;
  if (st.isDirectory()) {
    let names: string[] = [];
    try {
      names = readdirRaw(path);
    } catch {}
    for (const name of names) n += findCount(`${path}/${name}`);
  }
  return n;
}

export function main(_argv: string[], env: Env): number {
  setProg("qmail-qstat");
  const home = qmailHome(env);
  try {
    process.chdir(home);
  } catch (e) {
    dieUnable(111, `chdir to ${home}`, e);
  }
  // `echo queue/mess/*`: the visible entries, or the pattern itself (one word) when none match
  let mess: string[] = [];
  try {
    mess = readdirRaw("queue/mess").filter((n) => !n.startsWith("."));
  } catch {}
  const messdirs = mess.length || 1;
  let messfiles = 0;
  for (const d of mess) messfiles += findCount(`queue/mess/${d}`);
  const todofiles = findCount("queue/todo");
  writeAll(
    1,
    `messages in queue: ${messfiles - messdirs}\nmessages in queue but not yet preprocessed: ${todofiles - 1}\n`,
  );
  return 0;
}
