// SPDX-License-Identifier: MIT
import { die, dieUnable, setProg, writeAll } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import { getopt } from "@qts/core/getopt";
import type { Env } from "@qts/core/run";
import { closeSync, openSync, readFileSync } from "@qts/sys/fs";
import { AUTO_BREAK } from "../lib/conf.ts";
import { qmailHome } from "../lib/home.ts";
import { HomeError, Pw2u, type Pw2uOptions, SubuserError } from "../lib/users/pw2u.ts";

export const usage = "qmail-pw2u [ -/ohHuUC ] [ -c char ]";

function lines(b: Buffer): string[] {
  const s = b.toString("latin1");
  const out = s.split(/(?<=\n)/);
  return out.length ? out : [""];
}

/** control_readfile: non-blank lines not starting with #, trailing spaces, tabs and newlines stripped. */
function readControlFile(fn: string): string[] | undefined {
  let b: Buffer;
  try {
    b = readFileSync(fn);
  } catch (e) {
    if (errnoName(e) === "ENOENT") return undefined;
    throw e;
  }
  const out: string[] = [];
  for (const raw of b.toString("latin1").split("\n")) {
    const l = raw.replace(/[ \t]+$/, "");
    if (l !== "" && l[0] !== "#") out.push(l);
  }
  return out;
}

function readOptional(fn: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(fn, "r");
  } catch (e) {
    if (errnoName(e) === "ENOENT") return undefined;
    dieUnable(EXIT_TEMP, "read controls");
  }
  try {
    return readFileSync(fd);
  } catch {
    dieUnable(EXIT_TEMP, "read input");
  } finally {
    closeSync(fd);
  }
}

/** The options, or undefined for an unknown one (main then exits 100). */
function options(argv: string[]): Pw2uOptions | undefined {
  const o: Pw2uOptions = { dashcolon: "-:", homestrategy: 2, noupper: true, brk: AUTO_BREAK };
  for (const { opt, arg } of getopt(argv, "/ohHuUc:C").opts) {
    if (opt === "/") o.dashcolon = "-/:";
    else if (opt === "o") o.homestrategy = 2;
    else if (opt === "h") o.homestrategy = 1;
    else if (opt === "H") o.homestrategy = 0;
    else if (opt === "u") o.noupper = false;
    else if (opt === "U") o.noupper = true;
    else if (opt === "c") o.brk = (arg ?? "").slice(0, 1);
    else if (opt === "C") o.brk = "";
    else return undefined;
  }
  return o;
}

function users(name: string): string[] | undefined {
  try {
    return readControlFile(name);
  } catch {
    dieUnable(EXIT_TEMP, "read controls");
  }
}

/** The passwd lines, then users/subusers, as users/assign lines. */
function convert(p: Pw2u, input: Buffer): string {
  let out = "";
  try {
    for (const l of lines(input)) out += p.account(l);
    if (!p.sawAlias) dieUnable(EXIT_TEMP, "find alias user");
    const subs = readOptional("users/subusers");
    if (subs) for (const l of lines(subs)) out += p.subuser(l);
  } catch (e) {
    if (e instanceof HomeError || e instanceof SubuserError) die(EXIT_TEMP, e.message);
    throw e;
  }
  return out;
}

// qmail-pw2u.c: passwd on stdin -> users/assign on stdout, with users/{include,exclude,mailnames,subusers,append}.
export function main(argv: string[], env: Env): number {
  setProg("qmail-pw2u");
  const o = options(argv);
  if (!o) return EXIT_USAGE;
  const home = qmailHome(env);
  try {
    process.chdir(home);
  } catch {
    dieUnable(EXIT_TEMP, "chdir");
  }
  o.include = users("users/include");
  o.exclude = users("users/exclude");
  o.mailnames = users("users/mailnames");

  let input: Buffer;
  try {
    input = readFileSync(0);
  } catch {
    dieUnable(EXIT_TEMP, "read input");
  }
  let out = convert(new Pw2u(o), input);
  const app = readOptional("users/append");
  if (app) out += app.toString("latin1");
  out += ".\n";
  try {
    writeAll(1, Buffer.from(out, "latin1"));
  } catch {
    dieUnable(EXIT_TEMP, "write output");
  }
  return EXIT_OK;
}
