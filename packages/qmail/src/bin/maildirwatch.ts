// SPDX-License-Identifier: MIT
// maildirwatch.c: show the new messages of $MAILDIR on the terminal, a
// screenful every 30 seconds, until interrupted.
import { die, dieSys, dieUnable, setProg, writeAll } from "@qts/core/die";
import { EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { closeSync, openSync } from "@qts/sys/fs";
import { H, known } from "../lib/inject/header.ts";
import { headerbody, lines, printable, skipName } from "../lib/inject/headerbody.ts";
import { maildirClean, maildirScan, ScanError } from "../lib/local/maildir.ts";

export const usage = "maildirwatch";

/** One message's lines on the screen; undefined when it cannot be opened (it was read or moved meanwhile). */
function summary(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return undefined;
  }
  let sender = "?";
  let recipient = "?";
  let fromline = "";
  let text = "";
  const add = (s: string) => {
    if (text.length < 158) text = (text + s).slice(0, 158);
  };
  try {
    for (const part of headerbody(lines(fd))) {
      if ("body" in part) {
        add(part.body);
        continue;
      }
      if (!("field" in part)) continue;
      const h = part.field;
      const i = skipName(h);
      switch (known(h)) {
        case H.SUBJECT:
          add(h.slice(i));
          break;
        // The value without its final newline; a field with no value leaves the "?".
        case H.DELIVEREDTO:
          if (i < h.length) recipient = h.slice(i, -1);
          break;
        case H.RETURNPATH:
          if (i < h.length) sender = h.slice(i, -1);
          break;
        case H.FROM:
          fromline = h.slice(0, -1);
          break;
      }
    }
  } catch {
    die(EXIT_TEMP, "trouble reading new message");
  } finally {
    closeSync(fd);
  }
  let out = `FROM ${printable(sender, "?")} TO <${printable(recipient, "?")}>\n`;
  if (fromline) out += `\x1b[1m${printable(fromline, "/")}\x1b[0m\n`;
  return `${out}${printable(text, "/")}\n\n`;
}

export function main(_argv: string[], env: Env): number {
  setProg("maildirwatch");
  const maildir = env.MAILDIR;
  if (maildir === undefined) die(EXIT_TEMP, "MAILDIR not set");
  try {
    process.chdir(maildir);
  } catch (e) {
    dieUnable(EXIT_TEMP, `chdir to ${maildir}`, e);
  }
  const out = (s: string) => writeAll(1, Buffer.from(s, "latin1"));
  for (;;) {
    maildirClean();
    let list: ReturnType<typeof maildirScan>;
    try {
      list = maildirScan(true, false);
    } catch (e) {
      if (e instanceof ScanError) dieSys(EXIT_TEMP, e.err, e.message);
      throw e;
    }
    // Home the cursor and clear the screen.
    out("\x1b[;H\x1b[;J");
    let screen = "";
    for (const m of list) screen += summary(m.path) ?? "";
    out(screen);
    Bun.sleepSync(30_000);
  }
}
