// SPDX-License-Identifier: MIT
import { bytesOf, isUtf8, rawArgs, textOf } from "@qts/core/bytes";
import { setProg, sigpipeIgnore, writeAll } from "@qts/core/die";
import { errorStr } from "@qts/core/errstr";
import { EXIT_OK, EXIT_TEMP } from "@qts/core/exit";
import { getopt } from "@qts/core/getopt";
import type { Env } from "@qts/core/run";
import { chdirBytes } from "@qts/sys/chdir";
import { statSync } from "@qts/sys/fs";
import { AUTO_PATRN } from "../lib/conf.ts";
import { type Instruction, parseQmail, type QmailFile, qmeOx, qmeSearch, slurp } from "../lib/local/dotqmail.ts";
import { extParts, forward, headerLines, hostParts, runProgram } from "../lib/local/local.ts";
import { LocalExit, Message, ReadError, temp } from "../lib/local/local-message.ts";
import { maildirDeliver } from "../lib/local/maildir.ts";
import { mboxDeliver } from "../lib/local/mbox.ts";

export const usage = "qmail-local [ -nN ] user homedir local dash ext domain sender aliasempty";

// The arguments, and everything made of them, are byte strings (core/bytes.ts): one char per byte,
// written out as latin1, so addresses that are not UTF-8 keep their bytes, as in C.
const latin1 = (s: string) => Buffer.from(s, "latin1");
const bytestr = (b: Buffer) => b.toString("latin1");

// subfdoutsmall: a lost report reader is no reason to redo a delivery that happened.
function say(s: string): void {
  try {
    writeAll(1, latin1(s));
  } catch {}
}

function sayErr(s: string): void {
  try {
    writeAll(2, latin1(s));
  } catch {}
}

// qmail-local(8): deliver one message (seekable fd 0) by ~user/.qmail<dash><ext>.
export async function main(argv: string[], env: Env): Promise<number> {
  setProg("qmail-local");
  sigpipeIgnore();
  // -W (ours): qmail-lspawn's long-lived worker for one user, deliveries arriving on fd 3
  // (qmail-lspawn(8), "Delivery workers"); each is the same deliverOne a process of its own runs.
  if (argv.length === 1 && argv[0] === "-W") {
    const { serveDeliveries } = await import("../lib/local/local-worker.ts");
    return serveDeliveries(3, env, deliverOne, usage);
  }
  // Bun ends a process whose event loop drains with this code: never report success by accident.
  process.exitCode = EXIT_TEMP;
  return deliverOne(rawArgs(argv), env);
}

/** One delivery: raw is the arguments as byte strings; pid, when given, stands for the pid in Maildir names. */
async function deliverOne(raw: string[], env: Env, pid?: string): Promise<number> {
  try {
    return await deliver(raw, env, pid);
  } catch (e) {
    if (e instanceof LocalExit) {
      if (e.text) sayErr(`${e.text}\n`);
      return e.code;
    }
    if (e instanceof ReadError) {
      sayErr(`Unable to read message: ${errorStr(e.err)}. (#4.3.0)\n`);
      return EXIT_TEMP;
    }
    throw e;
  }
}

function usageExit(): never {
  throw new LocalExit(100, `qmail-local: usage: ${usage}`);
}

/** The options (-n: say what would be done; -N: do it) and the eight arguments. */
function args(raw: string[]): { doit: boolean; a: string[] } {
  let doit = true;
  const g = getopt(raw, "nN");
  for (const { opt } of g.opts) {
    if (opt === "n") doit = false;
    else if (opt === "N") doit = true;
    else usageExit();
  }
  if (g.rest.length !== 8) usageExit();
  if (!(g.rest[1] as string).startsWith("/")) usageExit();
  return { doit, a: g.rest };
}

/** chdir to the home directory, whose name may not be UTF-8. */
function enterHome(homedir: string): void {
  try {
    const dir = bytesOf(homedir);
    if (isUtf8(dir)) process.chdir(dir.toString());
    else chdirBytes(dir);
  } catch (e) {
    throw temp(`Unable to switch to ${homedir}: ${errorStr(e)}. (#4.3.0)`);
  }
}

/** What one delivery works with while it follows the .qmail file's lines. */
interface Delivery {
  doit: boolean;
  pid: string | undefined;
  msg: Message;
  env0: Env;
  /** What qmail-local adds to the environment for programs (byte strings). */
  env: Env;
  rpline: Buffer;
  ufline: Buffer;
  dtline: Buffer;
  /** The .qmail file has the execute bit (or is a mailing list): only forwards allowed. */
  forwardOnly: boolean;
  files: number;
  forwards: number;
  programs: number;
  recips: string[];
}

async function deliver(raw: string[], env0: Env, pid: string | undefined): Promise<number> {
  process.umask(0o077);
  const { doit, a } = args(raw);
  const [user, homedir, local, dash, ext, host, sender, aliasempty] = a as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  // Defence in depth beside qmail-lspawn's QLX_ROOT: no file or program is ever handled as root.
  if (doit && process.getuid?.() === 0) throw temp("Not allowed to perform deliveries as root. (#4.3.0)");
  enterHome(homedir);
  checkHome(doit);

  const lines = headerLines(local, host, sender);
  const dtline = latin1(lines.dtline);
  const msg = new Message(0);
  if (doit) msg.checkLoop(dtline);
  const found = qmeSearch(dash, ext);
  if (!found && dash) throw new LocalExit(100, "Sorry, no mailbox here by that name. (#5.1.1)");
  const newsender = newSender(local, host, sender, dash, ext);
  // What qmail-local adds to the environment for programs (byte strings), in qmail-local.c's order.
  const env: Env = {
    HOST: host,
    HOME: homedir,
    USER: user,
    LOCAL: local,
    RECIPIENT: `${local}@${host}`,
    DTLINE: lines.dtline,
    SENDER: sender,
    RPLINE: lines.rpline,
    UFLINE: lines.ufline,
    EXT: ext,
  };
  [env.EXT2, env.EXT3, env.EXT4] = extParts(ext);
  [env.HOST2, env.HOST3, env.HOST4] = hostParts(host);
  if (found?.defaultPart !== undefined) env.DEFAULT = found.defaultPart;
  env.NEWSENDER = newsender;

  const { text, forwardOnly } = qmailText(found, aliasempty);
  const d: Delivery = {
    doit,
    pid,
    msg,
    env0,
    env,
    rpline: latin1(lines.rpline),
    ufline: latin1(lines.ufline),
    dtline,
    forwardOnly,
    files: 0,
    forwards: 0,
    programs: 0,
    recips: [],
  };
  const instructions = parseQmail(text);
  for (let n = 0; n < instructions.length; n++) {
    const ins = instructions[n];
    if (!ins || instruction(d, ins, n)) break;
  }

  let qp = 0;
  if (d.recips.length && doit) qp = await forward(msg, dtline, newsender, d.recips, textEnv(env0, env));
  say(`did ${d.files}+${d.forwards}+${d.programs}\n${qp ? `qp ${qp}\n` : ""}`);
  return EXIT_OK;
}

/** The .qmail file's lines, or aliasempty's for an empty or missing file; forwardOnly when it has the execute bit. */
function qmailText(found: QmailFile | undefined, aliasempty: string): { text: Buffer; forwardOnly: boolean } {
  const text = found ? slurp(found.fd) : Buffer.alloc(0);
  if (text.length === 0) return { text: latin1(aliasempty), forwardOnly: false };
  return { text, forwardOnly: found?.cutable ?? false };
}

/** The sender for forwards: LOCAL-owner@HOST when .qmail-EXT-owner exists (VERP with -owner-default), else sender. */
function newSender(local: string, host: string, sender: string, dash: string, ext: string): string {
  if (sender === "" || sender === "#@[]" || !qmeOx(dash, ext, "-owner")) return sender;
  return qmeOx(dash, ext, "-owner-default") ? `${local}-owner-@${host}-@[]` : `${local}-owner@${host}`;
}

/** One line of the .qmail file, the n-th; true when a program said to stop (exit 99). */
function instruction(d: Delivery, ins: Instruction, n: number): boolean {
  switch (ins.kind) {
    case "blank":
      if (n === 0) throw temp("Uh-oh: first line of .qmail file is blank. (#4.2.1)");
      return false;
    case "comment":
    case "plus":
      return false;
    case "list":
      d.forwardOnly = true;
      return false;
    case "maildir":
    case "mbox":
      d.files++;
      if (d.forwardOnly) throw temp("Uh-oh: .qmail has file delivery but has x bit set. (#4.7.0)");
      if (!d.doit) say(`${ins.kind} ${bytestr(ins.path)}\n`);
      else if (ins.kind === "maildir") maildirDeliver(ins.path, d.msg, d.rpline, d.dtline, { pid: d.pid });
      else mboxDeliver(ins.path, bytestr(ins.path), d.msg, d.ufline, d.rpline, d.dtline);
      return false;
    case "program":
      d.programs++;
      if (d.forwardOnly) throw temp("Uh-oh: .qmail has prog delivery but has x bit set. (#4.7.0)");
      if (!d.doit) {
        say(`program ${bytestr(ins.command)}\n`);
        return false;
      }
      return runProgram(ins.command, d.msg, d.env0, d.env);
    case "forward":
      d.forwards++;
      if (!d.doit) say(`forward ${bytestr(ins.address)}\n`);
      else d.recips.push(bytestr(ins.address));
      return false;
  }
  return false;
}

/** env0 plus vars as text, for qmail-queue (which reads none of vars). */
function textEnv(env0: Env, vars: Env): Env {
  const env: Env = { ...env0 };
  for (const [k, v] of Object.entries(vars)) if (v !== undefined) env[k] = textOf(v);
  return env;
}

// qmail-local.c's checkhome(): a world-writable home defers; a sticky one defers (only warns with -n).
function checkHome(doit: boolean): void {
  let mode: number;
  try {
    mode = statSync(".").mode;
  } catch (e) {
    throw temp(`Unable to stat home directory: ${errorStr(e)}. (#4.3.0)`);
  }
  if (mode & AUTO_PATRN) throw temp("Uh-oh: home directory is writable. (#4.7.0)");
  if (mode & 0o1000) {
    if (doit) throw temp("Home directory is sticky: user is editing his .qmail file. (#4.2.1)");
    sayErr("Warning: home directory is sticky.\n");
  }
}
