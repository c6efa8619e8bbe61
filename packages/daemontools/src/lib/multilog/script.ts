// SPDX-License-Identifier: MIT
// multilog(8)'s script: the arguments become status files (f_init), log
// directories and the items applied to each line (c_init).
import { bytesOf } from "@qts/core/bytes";
import { dieUnable } from "@qts/core/die";
import { EXIT_TEMP } from "@qts/core/exit";
import { closeSync, openSync } from "@qts/sys/fs";
import { LogDir } from "./logdir.ts";
import { O_APPEND, O_WRITE } from "./pause.ts";

export type Item =
  | { k: "+" | "-"; pat: Buffer }
  | { k: "e" }
  | { k: "1"; prefix: Buffer }
  | { k: "="; name: string; fd: number }
  | { k: "d"; dir: LogDir };

export interface Script {
  items: Item[];
  dirs: LogDir[];
  /** t: each line starts with a TAI64N stamp. */
  stamp: boolean;
  /** Whether any item looks at the line (so it must sit in one buffer). */
  looks: boolean;
}

// multilog.c's limits for s and n.
const SIZE_MIN = 4096;
const SIZE_MAX = 16777215;
const SIZE_DEFAULT = 99999;
const NUM_MIN = 2;
const NUM_DEFAULT = 10;

/** scan_ulong: the leading digits (none: 0). */
function scanUlong(s: string): number {
  let u = 0;
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    u = u * 10 + c;
  }
  return u;
}

/** f_init: the status files first, all of them, with fatal errors; their fds by script index. */
function openStatusFiles(script: string[], raw: string[]): Map<number, number> {
  const status = new Map<number, number>();
  script.forEach((s, i) => {
    if (s[0] !== "=") return;
    const name = s.slice(1);
    const path = bytesOf((raw[i] as string).slice(1));
    try {
      closeSync(openSync(path, O_APPEND, 0o600));
    } catch (e) {
      dieUnable(EXIT_TEMP, `create ${name}`, e);
    }
    try {
      status.set(i, openSync(path, O_WRITE));
    } catch (e) {
      dieUnable(EXIT_TEMP, `write ${name}`, e);
    }
  });
  return status;
}

/** The item an argument stands for (undefined for s, n, !, t and what multilog ignores). */
function itemOf(c: string | undefined, arg: Buffer, name: string, fd: number | undefined): Item | undefined {
  switch (c) {
    case "+":
    case "-":
      return { k: c, pat: arg };
    case "e":
      return { k: "e" };
    case "1":
      // Ours (s6-log's "1"): each selected line to standard output, after the rest of the item
      // (a prefix such as "smtpd: "), for a console that a container's log collector reads. The
      // original multilog ignores items it does not know.
      return { k: "1", prefix: arg };
    case "=":
      return { k: "=", name, fd: fd as number };
    default:
      return undefined;
  }
}

/**
 * script as text (for messages) and, in raw, the same arguments as byte strings (core/bytes.ts).
 * Each directory is restarted (locked, recovered, current open) as it is met; errors are fatal.
 */
export function parseScript(script: string[], raw: string[]): Script {
  const status = openStatusFiles(script, raw);
  const out: Script = { items: [], dirs: [], stamp: script[0]?.[0] === "t", looks: false };
  // c_init: sNUM, nNUM and !processor apply to the directories after them.
  let size = SIZE_DEFAULT;
  let num = NUM_DEFAULT;
  let processor: string | undefined;
  let rawProcessor: Buffer | undefined;
  script.forEach((s, i) => {
    const c = s[0];
    // The argument's own bytes: patterns match the line's bytes, not a UTF-8 re-encoding.
    const arg = bytesOf((raw[i] as string).slice(1));
    if (c === "s") size = Math.min(SIZE_MAX, Math.max(SIZE_MIN, scanUlong(s.slice(1))));
    else if (c === "n") num = Math.max(NUM_MIN, scanUlong(s.slice(1)));
    else if (c === "!") {
      processor = s.slice(1);
      rawProcessor = arg;
    } else if (c === "." || c === "/") {
      const d = new LogDir(s, size, num, processor, bytesOf(raw[i] as string), rawProcessor);
      d.start();
      out.dirs.push(d);
      out.items.push({ k: "d", dir: d });
    } else {
      const it = itemOf(c, arg, s.slice(1), status.get(i));
      if (it === undefined) return;
      out.items.push(it);
      out.looks = true;
    }
  });
  // Without patterns every line goes to every directory.
  for (const d of out.dirs) d.selected = true;
  return out;
}
