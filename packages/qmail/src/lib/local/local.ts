// SPDX-License-Identifier: MIT
// qmail-local's pieces besides files and maildirs (qmail-local(8)):
// the environment and header lines, program delivery, forwarding.
import { envBytes, rawEnv } from "@qts/core/bytes";
import { errorStr } from "@qts/core/errstr";
import { join } from "@qts/core/path";
import type { Env } from "@qts/core/run";
import { statSync } from "@qts/sys/fs";
import { outcome, startChild, waitChildSync } from "../child.ts";
import { dateFromLine } from "../date822.ts";
import { qmailHome } from "../home.ts";
import { QmailQueue } from "../queue/qmail.ts";
import { qqExitText } from "../queue/qq.ts";
import { nonAscii, validUtf8 } from "../utf8.ts";
import { type Message, perm, ReadError, temp } from "./local-message.ts";

/** quote(): does a local part need RFC 821 quoting? (quote.c quote_need) */
function quoteNeed(s: string): boolean {
  if (s.length === 0) return true;
  // A UTF-8 local part is atom text in an internationalised header (RFC 6532 section 3.2); other
  // bytes past ASCII are quoted, as quote.c does.
  const utf8 = nonAscii(s) && validUtf8(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128) {
      if (utf8) continue;
      return true;
    }
    // ok[] of quote.c: printable ASCII except space, "(),.:;<>@[\] and DEL; "." is handled below.
    if (c <= 32 || c === 127 || '"(),:;<>@[\\]'.includes(s[i] as string)) return true;
  }
  if (s.startsWith(".") || s.endsWith(".") || s.includes("..")) return true;
  return false;
}

function quoteBox(s: string): string {
  if (!quoteNeed(s)) return s;
  return `"${s.replace(/[\r\n"\\]/g, (c) => `\\${c}`)}"`;
}

/** quote2: the sender for Return-Path, its local part (before the last "@") quoted when needed. */
export function quote2(s: string): string {
  if (s === "") return "";
  const j = s.lastIndexOf("@");
  if (j < 0) return quoteBox(s);
  return quoteBox(s.slice(0, j)) + s.slice(j);
}

export interface Lines {
  dtline: string;
  rpline: string;
  ufline: string;
}

/** DTLINE, RPLINE and UFLINE (qmail-command(8)), each ending in "\n". */
// Every delivery builds these: replaceAll, no regular expression, whose first use costs a start about
// 20 page faults (BENCHMARKS.md, "Start-up: lazy modules").
export function headerLines(local: string, host: string, sender: string, nowMs = Date.now()): Lines {
  const dtline = `Delivered-To: ${`${local}@${host}`.replaceAll("\n", "_")}\n`;
  const rpline = `Return-Path: <${quote2(sender).replaceAll("\n", "_")}>\n`;
  const from =
    sender === "" ? "MAILER-DAEMON" : sender.replaceAll(" ", "-").replaceAll("\t", "-").replaceAll("\n", "-");
  const ufline = `From ${from} ${dateFromLine(nowMs)}\n`;
  return { dtline, rpline, ufline };
}

/** EXT2..EXT4: what follows the first, second, third "-" of ext ("" when there are fewer). */
export function extParts(ext: string): [string, string, string] {
  const after = (s: string) => {
    const i = s.indexOf("-");
    return i < 0 ? "" : s.slice(i + 1);
  };
  const e2 = after(ext);
  const e3 = after(e2);
  return [e2, e3, after(e3)];
}

/** HOST2..HOST4: host less its last one, two, three dot-components (the whole host when it has no more dots). */
export function hostParts(host: string): [string, string, string] {
  const cut = (end: number) => {
    const i = host.lastIndexOf(".", end - 1);
    return i < 0 ? end : i;
  };
  const i2 = cut(host.length);
  const i3 = cut(i2);
  const i4 = cut(i3);
  return [host.slice(0, i2), host.slice(0, i3), host.slice(0, i4)];
}

/**
 * /bin/sh -c command (mailprogram's child, with SIGPIPE back to default as its sig_pipedefault):
 * its exit code, or null when it crashed. The command and the environment go to the program as
 * bytes, as C passes them on. Throws the spawn error.
 */
function shell(command: Buffer, env0: Env, vars: Env): number | null {
  const env = envBytes({ ...rawEnv(env0), ...vars });
  const o = outcome(waitChildSync(startChild({ file: "/bin/sh", args: ["-c", command], env })));
  return o.crashed ? null : o.code;
}

/**
 * mailprogram: /bin/sh -c command with the message (rewound, no added lines)
 * on stdin and the report on stdout/stderr, in the environment env0 plus
 * vars (byte strings: core/bytes.ts). Returns true for exit 99 (skip
 * the remaining lines). Exit 100, 64, 65, 70, 76, 77, 78, 112 bounce (100);
 * a crash or any other nonzero code defers.
 */
export function runProgram(command: Buffer, msg: Message, env0: Env, vars: Env): boolean {
  msg.rewindFd();
  let status: number | null;
  try {
    status = shell(command, env0, vars);
  } catch (e) {
    throw temp(`Unable to run /bin/sh: ${errorStr(e)}. (#4.3.0)`);
  }
  if (status === null) throw temp("Aack, child crashed. (#4.3.0)");
  switch (status) {
    case 0:
      return false;
    case 99:
      return true;
    case 100:
    case 64:
    case 65:
    case 70:
    case 76:
    case 77:
    case 78:
    case 112:
      // The program's own output is the whole report.
      throw perm("");
    default:
      throw temp("");
  }
}

/** qmail_open could not start qmail-queue; text is qmail_close's D/Z text for the child's exit. */
export class QueueOpenError extends Error {
  constructor(readonly text: string) {
    super(text);
  }
}

/**
 * A QmailQueue that really started. When the spawn fails (no home, no
 * program), QmailQueue would wait forever; C's forked child would exit 61
 * (chdir to the home failed) or 120 (exec failed), so those texts are thrown.
 */
export function openQueue(env: Env): QmailQueue {
  const home = qmailHome(env);
  let isDir = false;
  try {
    isDir = statSync(home).isDirectory();
  } catch {}
  if (!isDir) throw new QueueOpenError(qqExitText(61));
  // qmail_open's child execs $QMAILQUEUE with execv after chdir(home): a relative name is found in the
  // home, never in PATH (spawn would search PATH for a bare name).
  const qq = env.QMAILQUEUE;
  if (qq && !qq.startsWith("/")) env = { ...env, QMAILQUEUE: join(home, qq) };
  // QmailQueue.put leaves an error and a close listener behind each time it waits for "drain"; past ten,
  // the runtime would print a MaxListenersExceededWarning on stderr, which is the delivery report.
  process.emitWarning = () => {};
  const q = new QmailQueue({ env, home });
  if (!q.pid) throw new QueueOpenError(qqExitText(120));
  return q;
}

/**
 * mailforward: one injection of dtline + the message, with envelope sender
 * newsender and the given recipients (strings whose chars are bytes). Returns
 * the qp (qmail-queue's pid). A qq failure: "Unable to forward message: ...".
 */
export async function forward(
  msg: Message,
  dtline: Buffer,
  newsender: string,
  recips: string[],
  env: Env,
): Promise<number> {
  msg.rewind();
  let q: QmailQueue;
  try {
    q = openQueue(env);
  } catch (e) {
    if (e instanceof QueueOpenError) throw temp(`Unable to forward message: ${e.text.slice(1)}.`);
    throw temp(`Unable to fork: ${errorStr(e)}. (#4.3.0)`);
  }
  let failed = false;
  await q.put(dtline);
  try {
    for (;;) {
      const b = msg.next();
      if (!b) break;
      await q.put(Buffer.from(b));
    }
  } catch (e) {
    if (!(e instanceof ReadError)) throw e;
    failed = true;
  }
  if (!failed) {
    q.from(newsender);
    for (const r of recips) q.to(r);
  }
  const res = await q.close();
  // qmail_fail after a read error: qmail-queue got no envelope and queued nothing.
  const text = failed ? "Zqq write error or disk full (#4.3.0)" : res.text;
  if (text) throw (text[0] === "D" ? perm : temp)(`Unable to forward message: ${text.slice(1)}.`);
  return q.pid;
}
