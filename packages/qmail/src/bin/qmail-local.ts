// SPDX-License-Identifier: MIT
import { isUtf8 } from "node:buffer";
import { statSync } from "node:fs";
import { bytesOf, rawArgs, textOf } from "@qts/core/bytes";
import { setProg, sigpipeIgnore, writeAll } from "@qts/core/die";
import { errorStr } from "@qts/core/errstr";
import { EXIT_OK, EXIT_TEMP } from "@qts/core/exit";
import { getopt } from "@qts/core/getopt";
import type { Env } from "@qts/core/run";
import { chdirBytes } from "@qts/sys/fchdir";
import { AUTO_PATRN } from "../lib/conf.ts";
import { parseQmail, qmeOx, qmeSearch, slurp } from "../lib/dotqmail.ts";
import { extParts, forward, headerLines, hostParts, runProgram } from "../lib/local.ts";
import { LocalExit, Message, ReadError, temp } from "../lib/local-message.ts";
import { maildirDeliver } from "../lib/maildir.ts";
import { mboxDeliver } from "../lib/mbox.ts";

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
    const { serveDeliveries } = await import("../lib/local-worker.ts");
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

async function deliver(raw: string[], env0: Env, pid: string | undefined): Promise<number> {
  process.umask(0o077);
  let doit = true;
  const g = getopt(raw, "nN");
  for (const { opt } of g.opts) {
    if (opt === "n") doit = false;
    else if (opt === "N") doit = true;
    else throw new LocalExit(100, `qmail-local: usage: ${usage}`);
  }
  const a = g.rest;
  if (a.length !== 8) throw new LocalExit(100, `qmail-local: usage: ${usage}`);
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
  if (!homedir.startsWith("/")) throw new LocalExit(100, `qmail-local: usage: ${usage}`);
  // Defence in depth beside qmail-lspawn's QLX_ROOT: no file or program is ever handled as root.
  if (doit && process.getuid?.() === 0) throw temp("Not allowed to perform deliveries as root. (#4.3.0)");

  try {
    const dir = bytesOf(homedir);
    if (isUtf8(dir)) process.chdir(dir.toString());
    else chdirBytes(dir);
  } catch (e) {
    throw temp(`Unable to switch to ${homedir}: ${errorStr(e)}. (#4.3.0)`);
  }
  checkHome(doit);

  // What qmail-local adds to the environment for programs (byte strings).
  const env: Env = {};
  env.HOST = host;
  env.HOME = homedir;
  env.USER = user;
  env.LOCAL = local;
  env.RECIPIENT = `${local}@${host}`;
  const lines = headerLines(local, host, sender);
  env.DTLINE = lines.dtline;
  const dtline = latin1(lines.dtline);
  const msg = new Message(0);
  if (doit) msg.checkLoop(dtline);

  env.SENDER = sender;
  env.RPLINE = lines.rpline;
  env.UFLINE = lines.ufline;
  env.EXT = ext;
  [env.EXT2, env.EXT3, env.EXT4] = extParts(ext);
  [env.HOST2, env.HOST3, env.HOST4] = hostParts(host);

  const found = qmeSearch(dash, ext);
  if (found?.defaultPart !== undefined) env.DEFAULT = found.defaultPart;
  if (!found && dash) throw new LocalExit(100, "Sorry, no mailbox here by that name. (#5.1.1)");

  let newsender = sender;
  if (sender !== "" && sender !== "#@[]" && qmeOx(dash, ext, "-owner")) {
    newsender = qmeOx(dash, ext, "-owner-default") ? `${local}-owner-@${host}-@[]` : `${local}-owner@${host}`;
  }
  env.NEWSENDER = newsender;

  let text = found ? slurp(found.fd) : Buffer.alloc(0);
  let forwardOnly = found?.cutable ?? false;
  if (text.length === 0) {
    text = latin1(aliasempty);
    forwardOnly = false;
  }

  const rpline = latin1(lines.rpline);
  const ufline = latin1(lines.ufline);
  let files = 0;
  let forwards = 0;
  let programs = 0;
  const recips: string[] = [];
  const instructions = parseQmail(text);
  for (let n = 0; n < instructions.length; n++) {
    const ins = instructions[n];
    if (!ins) break;
    let stop = false;
    switch (ins.kind) {
      case "blank":
        if (n === 0) throw temp("Uh-oh: first line of .qmail file is blank. (#4.2.1)");
        break;
      case "comment":
      case "plus":
        break;
      case "list":
        forwardOnly = true;
        break;
      case "maildir":
      case "mbox":
        files++;
        if (forwardOnly) throw temp("Uh-oh: .qmail has file delivery but has x bit set. (#4.7.0)");
        if (!doit) say(`${ins.kind} ${bytestr(ins.path)}\n`);
        else if (ins.kind === "maildir") maildirDeliver(ins.path, msg, rpline, dtline, { pid });
        else mboxDeliver(ins.path, bytestr(ins.path), msg, ufline, rpline, dtline);
        break;
      case "program":
        programs++;
        if (forwardOnly) throw temp("Uh-oh: .qmail has prog delivery but has x bit set. (#4.7.0)");
        if (!doit) say(`program ${bytestr(ins.command)}\n`);
        else stop = runProgram(ins.command, msg, env0, env);
        break;
      case "forward":
        forwards++;
        if (!doit) say(`forward ${bytestr(ins.address)}\n`);
        else recips.push(bytestr(ins.address));
        break;
    }
    if (stop) break;
  }

  let qp = 0;
  if (recips.length && doit) qp = await forward(msg, dtline, newsender, recips, textEnv(env0, env));
  say(`did ${files}+${forwards}+${programs}\n${qp ? `qp ${qp}\n` : ""}`);
  return EXIT_OK;
}

/** env0 plus vars as text, for qmail-queue (which reads none of vars). */
function textEnv(env0: Env, vars: Env): Env {
  const env: Env = { ...env0 };
  for (const [k, v] of Object.entries(vars)) if (v !== undefined) env[k] = textOf(v);
  return env;
}

// checkhome (§4.2): a world-writable home defers; a sticky one defers (only warns with -n).
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
