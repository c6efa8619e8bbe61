// SPDX-License-Identifier: MIT
// sendmail: the sendmail-compatible front end of qmail (sendmail(8),
// netqmail's sendmail.c). Runs <home>/bin/qmail-inject, or qmail-smtpd for
// -bs and qmail-qread for -bp (or when called as mailq).
import { die, dieUnable, Exit, errWrite, setProg, usageLine } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { pathexec, prepareExec } from "@qts/sys/exec";
import { qmailHome } from "../lib/home.ts";

export const usage = "sendmail [ -t ] [ -fsender ] [ -Fname ] [ -bp ] [ -bs ] [ arg ... ]";

function dieUsage(): never {
  usageLine(usage);
  throw new Exit(100);
}

function exec(file: string, env: Env, what: string): never {
  prepareExec([]);
  const err = pathexec(file, [file], env);
  dieUnable(111, `run ${what} (${process.cwd()}/${file})`, err);
}

function smtpd(env: Env): never {
  if (env.PROTO === undefined) {
    env.RELAYCLIENT = "";
    env.DATABYTES = "0";
    env.PROTO = "TCP";
    env.TCPLOCALIP = "127.0.0.1";
    env.TCPLOCALHOST = "localhost";
    env.TCPREMOTEIP = "127.0.0.1";
    env.TCPREMOTEHOST = "localhost";
    env.TCPREMOTEINFO = "sendmail-bs";
  }
  exec("bin/qmail-smtpd", env, "qmail-smtpd");
}

function mailq(env: Env): never {
  exec("bin/qmail-qread", env, "qmail-qread");
}

/** netqmail: -f also sets QMAILUSER and QMAILHOST from the sender, and drops the name and host variables. */
function doSender(s: string, env: Env): void {
  for (const k of ["QMAILNAME", "MAILNAME", "NAME", "QMAILHOST", "MAILHOST"]) delete env[k];
  const a = s.lastIndexOf("@");
  if (a < 0) {
    env.QMAILUSER = s;
    return;
  }
  env.QMAILHOST = s.slice(a + 1);
  env.QMAILUSER = s.slice(0, a);
}

const WITH_ARG = "efpoBFb";
const KNOWN = "vimtefpoBFEJxb";

interface Options {
  /** -t: recipients from the header (qmail-inject -H). */
  flagh: boolean;
  sender?: string;
  rest: string[];
}

/** sgetopt over "vimte:f:p:o:B:F:EJxb:", done here because -E and -J swallow the rest of their word. */
function options(argv: string[], env: Env, progname: string): Options {
  const o: Options = { flagh: false, rest: [] };
  let i = 0;
  while (i < argv.length) {
    const w = argv[i] as string;
    if (w === "--") {
      i++;
      break;
    }
    if (w.length < 2 || w[0] !== "-") break;
    i = optionWord(argv, i + 1, o, env, progname);
  }
  o.rest = argv.slice(i);
  return o;
}

/** c, if it is an option sendmail knows; else the usage. */
function known(c: string, progname: string): string {
  if (KNOWN.includes(c)) return c;
  // sgetopt names the program as it was called (optprogname): "mailq: illegal option -- q".
  errWrite(`${progname}: illegal option -- ${c}\n`);
  return dieUsage();
}

/** The options in argv[i - 1] (-tv, -fsender, or -f with the next word); returns the next word's index. */
function optionWord(argv: string[], i: number, o: Options, env: Env, progname: string): number {
  const w = argv[i - 1] as string;
  for (let j = 1; j < w.length; j++) {
    const c = known(w[j] as string, progname);
    if (c === "E" || c === "J") break;
    if (!WITH_ARG.includes(c)) {
      if (c === "t") o.flagh = true;
      continue;
    }
    let arg: string;
    if (j + 1 < w.length) arg = w.slice(j + 1);
    else if (i < argv.length) arg = argv[i++] as string;
    else {
      errWrite(`${progname}: option requires an argument -- ${c}\n`);
      dieUsage();
    }
    optionArg(c, arg, o, env);
    break;
  }
  return i;
}

/** An option with its argument: -f sender, -F name, -b mode (-bp mailq, -bs SMTP, -bm the default). */
function optionArg(c: string, arg: string, o: Options, env: Env): void {
  if (c === "f") o.sender = arg;
  else if (c === "F") env.MAILNAME = arg;
  else if (c === "b") {
    if (arg[0] === "p") mailq(env);
    if (arg[0] === "s") smtpd(env);
    if (arg[0] !== "m") dieUsage();
  }
}

export function main(argv: string[], env: Env, progname = "sendmail"): number {
  setProg("sendmail");
  env = { ...env };
  const home = qmailHome(env);
  try {
    process.chdir(home);
  } catch (e) {
    dieUnable(111, `switch to qmail home directory ${home}`, e);
  }
  const { flagh, sender, rest } = options(argv, env, progname);
  if (progname === "mailq") mailq(env);
  if (progname === "newaliases") die(100, "please use fastforward/newaliases instead");
  const qi = ["bin/qmail-inject", flagh ? "-H" : "-a"];
  if (sender !== undefined) {
    qi.push("-f", sender);
    doSender(sender, env);
  }
  qi.push("--", ...rest);
  prepareExec([]);
  const err = pathexec(qi[0] as string, qi, env);
  return dieUnable(111, `run qmail-inject (${process.cwd()}/${qi[0]})`, err);
}
