// SPDX-License-Identifier: MIT
// qsmhook.c: run a sendmail-style delivery program (the "hook" of a
// .qmail line) with %g, %h, %u in its arguments filled in from the envelope,
// and the message on its standard input after qmail-local's lines.
import { byteStr, execEnv, rawArgs, rawEnv } from "@qts/core/bytes";
import { die, dieUnable, Exit, setProg, sigpipeIgnore } from "@qts/core/die";
import { errorTemp } from "@qts/core/errstr";
import { EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import { getopt } from "@qts/core/getopt";
import type { Env } from "@qts/core/run";
import { type Fed, outcome, runFed } from "../lib/child.ts";

export const usage = "qsmhook [ -nPl ] [ -x prefix ] [ -DFMms ] program [ arg ... ]";

/** The argument with %g (sender), %h (host), %u (recipient), %% filled in; % and any other letter drop out. */
function expand(arg: string, sender: string, host: string, recip: string): string {
  let out = "";
  for (let i = 0; i < arg.length; i++) {
    const ch = arg[i] as string;
    if (ch !== "%") {
      out += ch;
      continue;
    }
    const x = arg[++i];
    if (x === undefined) break;
    if (x === "%") out += "%";
    else if (x === "g") out += sender;
    else if (x === "h") out += host;
    else if (x === "u") out += recip;
  }
  return out;
}

export function main(argv: string[], env: Env): number {
  setProg("qsmhook");
  sigpipeIgnore();
  // Byte strings (core/bytes.ts), so an address that is not UTF-8 reaches the program unchanged.
  const e = rawEnv(env);
  const { DTLINE: dtline, RPLINE: rpline, UFLINE: ufline, LOCAL: local, HOST: host, SENDER: sender } = e;
  if (
    dtline === undefined ||
    rpline === undefined ||
    ufline === undefined ||
    local === undefined ||
    host === undefined ||
    sender === undefined
  )
    die(EXIT_USAGE, "incorrect usage");
  let recip = local;
  let flagufline = true;
  let flagrpline = false;
  let flagdtline = false;
  const { opts, rest } = getopt(argv, "DFlMmnPsx:");
  for (const { opt, arg = "" } of opts) {
    switch (opt) {
      // -D, -F, -M, -m, -s: sendmail's, accepted and ignored.
      case "D":
      case "F":
      case "M":
      case "m":
      case "s":
        break;
      case "l":
        flagdtline = true;
        break;
      case "n":
        flagufline = false;
        break;
      case "P":
        flagrpline = true;
        break;
      case "x": {
        // case_starts: the prefix is compared without regard to case.
        const x = byteStr(arg);
        if (recip.slice(0, x.length).toLowerCase() === x.toLowerCase()) recip = recip.slice(x.length);
        break;
      }
      default:
        // an unknown option: exit 100 after getopt's message, nothing more
        throw new Exit(EXIT_USAGE);
    }
  }
  if (rest.length === 0) die(EXIT_USAGE, "incorrect usage");
  const raw = rawArgs(argv).slice(argv.length - rest.length);
  const cmd = raw.map((a) => Buffer.from(expand(a, sender, host, recip), "latin1"));
  let head = "";
  if (flagufline) head += ufline;
  if (flagrpline) head += rpline;
  if (flagdtline) head += dtline;
  let fed: Fed;
  try {
    fed = runFed(cmd, execEnv(env), Buffer.from(head, "latin1"));
  } catch {
    die(EXIT_TEMP, "temporary problem");
  }
  if (fed.error !== undefined) {
    if (errorTemp(fed.error)) die(EXIT_TEMP, "temporary problem");
    die(EXIT_USAGE, "command not found");
  }
  // A write error (the program stopped reading) is not one: substdio_copy's -3 goes unchecked.
  if (fed.copyFailed === "read") dieUnable(EXIT_TEMP, "read message");
  const end = outcome(fed.wait());
  if (end.crashed) die(EXIT_TEMP, "temporary problem");
  return end.code;
}
