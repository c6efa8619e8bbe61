// SPDX-License-Identifier: MIT
// rblsmtpd.c: block SMTP clients listed in an RBL, or named by $RBLSMTPD,
// with a fake SMTP session; let the others through to smtpd.
import { execArgs, execEnv, rawEnv } from "@qts/core/bytes";
import { dieSys, dieUsage, Exit, errWrite, setProg, writeAll } from "@qts/core/die";
import { EXIT_OK, EXIT_TEMP } from "@qts/core/exit";
import { getopt } from "@qts/core/getopt";
import { readChunk } from "@qts/core/io";
import type { Env } from "@qts/core/run";
import { inheritedFds, pathexec, prepareExec } from "@qts/sys/exec";
import { waitReadable } from "@qts/sys/poll";
import { scanUlong } from "../lib/names.ts";
import { RblDns } from "../lib/rbl.ts";

export const usage = "rblsmtpd [ -b ] [ -R ] [ -t timeout ] [ -r base ] [ -a base ] smtpd [ arg ... ]";

enum D {
  UNDECIDED = 0,
  ACCEPT = 1,
  REJECT = 2, // 451
  BOUNCE = 3, // 553
}

/** ip_init(): the address's parts in reverse order, each followed by a dot ("4.3.2.1."). */
function reversed(ip: string): string {
  if (ip === "") return "";
  return `${ip.split(".").reverse().join(".")}.`;
}

function say(s: string): void {
  try {
    writeAll(1, s);
  } catch {}
}

/**
 * rblsmtpd(): the reply for everything but HELO, EHLO, MAIL, RSET, NOOP and
 * QUIT, given once without a session when the timeout is 0. The session
 * reads commands as qmail's commands.c (a NUL is a newline, one CR before
 * the LF is dropped, the verb ends at the first space, case does not matter)
 * and ends silently at the end of the input or after timeout seconds.
 */
function session(reply: string, timeout: number): never {
  if (timeout === 0) {
    say(reply);
    throw new Exit(EXIT_OK);
  }
  const deadline = Date.now() + timeout * 1000;
  say("220 rblsmtpd.local\r\n");
  const buf = new Uint8Array(64);
  let line: number[] = [];
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Exit(EXIT_OK);
    if (!waitReadable(0, left)) continue;
    let n: number;
    try {
      n = readChunk(0, buf);
    } catch {
      throw new Exit(EXIT_OK);
    }
    if (n === 0) throw new Exit(EXIT_OK);
    for (const b of buf.subarray(0, n)) {
      if (b !== 10) {
        line.push(b === 0 ? 10 : b);
        continue;
      }
      if (line[line.length - 1] === 13) line.pop();
      const text = Buffer.from(line).toString("latin1");
      line = [];
      const sp = text.indexOf(" ");
      const verb = (sp < 0 ? text : text.slice(0, sp)).toLowerCase();
      if (verb === "quit") {
        say("221 rblsmtpd.local\r\n");
        throw new Exit(EXIT_OK);
      }
      if (["helo", "ehlo", "mail", "rset", "noop"].includes(verb)) say("250 rblsmtpd.local\r\n");
      else say(reply);
    }
  }
}

export async function main(argv: string[], env: Env): Promise<number> {
  setProg("rblsmtpd");
  const ip = env.TCPREMOTEIP ?? "";
  const rev = reversed(ip);
  let decision = D.UNDECIDED;
  let text = "";
  // The variable's very bytes (core/bytes.ts): the reply shows each byte, not its UTF-8 decoding.
  const x = env.RBLSMTPD === undefined ? undefined : rawEnv({ RBLSMTPD: env.RBLSMTPD }).RBLSMTPD;
  if (x !== undefined) {
    if (x === "") decision = D.ACCEPT;
    else if (x.startsWith("-")) {
      text = x.slice(1);
      decision = D.BOUNCE;
    } else {
      text = x;
      decision = D.REJECT;
    }
  }
  let timeout = 60;
  let bounce = false;
  let failClosed = false;
  let mustNotBounce = false;
  let dns: RblDns | undefined;
  const { opts, rest } = getopt(argv, "bBcCt:r:a:");
  // The lookups happen in option order, each only while nothing is decided (rbl(), antirbl()).
  for (const { opt, arg = "" } of opts) {
    switch (opt) {
      case "b":
        bounce = true;
        break;
      case "B":
        bounce = false;
        break;
      case "c":
        failClosed = true;
        break;
      case "C":
        failClosed = false;
        break;
      case "t":
        timeout = scanUlong(arg).value;
        break;
      case "r": {
        if (decision !== D.UNDECIDED) break;
        dns ??= new RblDns(env);
        const t = await dns.txt(rev + arg);
        if (t === null) {
          mustNotBounce = true;
          if (failClosed) {
            text = "temporary RBL lookup error";
            decision = D.REJECT;
          }
        } else if (t.length > 0) {
          text = t;
          decision = bounce ? D.BOUNCE : D.REJECT;
        }
        break;
      }
      case "a": {
        if (decision !== D.UNDECIDED) break;
        dns ??= new RblDns(env);
        const a = await dns.ip4(rev + arg);
        if (a === null) {
          mustNotBounce = true;
          if (!failClosed) decision = D.ACCEPT;
        } else if (a.length > 0) decision = D.ACCEPT;
        break;
      }
      default:
        dieUsage(usage);
    }
  }
  if (rest.length === 0) dieUsage(usage);
  // ucspi-tcp 0.88 looks up rbl.maps.vix.com when no -r is given; that list is long gone, and
  // Debian's rblsmtpd (the one we are compared with) has no default list: neither have we.

  if (decision >= D.REJECT) {
    const code = mustNotBounce || decision === D.REJECT ? "451 " : "553 ";
    let msg = "";
    // text is a byte string: the variable's bytes, or dns_txt's printable ASCII.
    for (const ch of Buffer.from(code + text.slice(0, 200), "latin1"))
      msg += ch < 32 || ch > 126 ? "?" : String.fromCharCode(ch);
    errWrite(`rblsmtpd: ${ip} pid ${process.pid}: ${msg}\n`);
    session(`${msg}\r\n`, timeout);
  }

  const args = execArgs(rest);
  prepareExec(inheritedFds());
  dieSys(EXIT_TEMP, pathexec(args[0] as string | Buffer, args, execEnv(env)), "unable to run ", rest[0] as string);
}
