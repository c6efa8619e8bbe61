// SPDX-License-Identifier: MIT
// rblsmtpd.c: block SMTP clients listed in an RBL, or named by $RBLSMTPD,
// with a fake SMTP session; let the others through to smtpd.
import { execArgs, execEnv, rawEnv } from "@qts/core/bytes";
import { dieUnable, dieUsage, Exit, errWrite, setProg, writeAll } from "@qts/core/die";
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

/** One command line of the session: the answer to its verb; quit ends the session. */
function answer(line: number[], reply: string): void {
  if (line[line.length - 1] === 13) line.pop();
  const text = Buffer.from(line).toString("latin1");
  const sp = text.indexOf(" ");
  const verb = (sp < 0 ? text : text.slice(0, sp)).toLowerCase();
  if (verb === "quit") {
    say("221 rblsmtpd.local\r\n");
    throw new Exit(EXIT_OK);
  }
  if (["helo", "ehlo", "mail", "rset", "noop"].includes(verb)) say("250 rblsmtpd.local\r\n");
  else say(reply);
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
      answer(line, reply);
      line = [];
    }
  }
}

interface State {
  env: Env;
  /** The reversed octets of TCPREMOTEIP, with a trailing dot. */
  rev: string;
  decision: D;
  text: string;
  timeout: number;
  bounce: boolean;
  failClosed: boolean;
  mustNotBounce: boolean;
  dns?: RblDns;
}

/** $RBLSMTPD decides first: empty accepts, "-text" bounces, any other text rejects. */
function fromVariable(st: State, x: string | undefined): void {
  if (x === undefined) return;
  if (x === "") st.decision = D.ACCEPT;
  else if (x.startsWith("-")) {
    st.text = x.slice(1);
    st.decision = D.BOUNCE;
  } else {
    st.text = x;
    st.decision = D.REJECT;
  }
}

/** -r: rbl(), a TXT record lists the client. */
async function rbl(st: State, base: string): Promise<void> {
  st.dns ??= new RblDns(st.env);
  const t = await st.dns.txt(st.rev + base);
  if (t === null) {
    st.mustNotBounce = true;
    if (st.failClosed) {
      st.text = "temporary RBL lookup error";
      st.decision = D.REJECT;
    }
  } else if (t.length > 0) {
    st.text = t;
    st.decision = st.bounce ? D.BOUNCE : D.REJECT;
  }
}

/** -a: antirbl(), an A record accepts the client. */
async function antirbl(st: State, base: string): Promise<void> {
  st.dns ??= new RblDns(st.env);
  const a = await st.dns.ip4(st.rev + base);
  if (a === null) {
    st.mustNotBounce = true;
    if (!st.failClosed) st.decision = D.ACCEPT;
  } else if (a.length > 0) st.decision = D.ACCEPT;
}

const SET: Record<string, (st: State, arg: string) => void | Promise<void>> = {
  b: (st) => {
    st.bounce = true;
  },
  B: (st) => {
    st.bounce = false;
  },
  c: (st) => {
    st.failClosed = true;
  },
  C: (st) => {
    st.failClosed = false;
  },
  t: (st, arg) => {
    st.timeout = scanUlong(arg).value;
  },
  // The lookups happen in option order, each only while nothing is decided.
  r: (st, arg) => (st.decision === D.UNDECIDED ? rbl(st, arg) : undefined),
  a: (st, arg) => (st.decision === D.UNDECIDED ? antirbl(st, arg) : undefined),
};

/** The refusal: 451 (or 553 when bounced and no lookup failed), the text made printable, cut at 200 bytes. */
function refusal(st: State): string {
  const code = st.mustNotBounce || st.decision === D.REJECT ? "451 " : "553 ";
  let msg = "";
  // text is a byte string: the variable's bytes, or dns_txt's printable ASCII.
  for (const ch of Buffer.from(code + st.text.slice(0, 200), "latin1"))
    msg += ch < 32 || ch > 126 ? "?" : String.fromCharCode(ch);
  return msg;
}

export async function main(argv: string[], env: Env): Promise<number> {
  setProg("rblsmtpd");
  const ip = env.TCPREMOTEIP ?? "";
  const st: State = {
    env,
    rev: reversed(ip),
    decision: D.UNDECIDED,
    text: "",
    timeout: 60,
    bounce: false,
    failClosed: false,
    mustNotBounce: false,
  };
  // The variable's very bytes (core/bytes.ts): the reply shows each byte, not its UTF-8 decoding.
  fromVariable(st, env.RBLSMTPD === undefined ? undefined : rawEnv({ RBLSMTPD: env.RBLSMTPD }).RBLSMTPD);
  const { opts, rest } = getopt(argv, "bBcCt:r:a:");
  for (const { opt, arg = "" } of opts) {
    const set = Object.hasOwn(SET, opt) ? SET[opt] : undefined;
    if (!set) dieUsage(usage);
    await set(st, arg);
  }
  if (rest.length === 0) dieUsage(usage);
  // ucspi-tcp 0.88 looks up rbl.maps.vix.com when no -r is given; that list is long gone, and
  // Debian's rblsmtpd (the one we are compared with) has no default list: neither have we.

  if (st.decision >= D.REJECT) {
    const msg = refusal(st);
    errWrite(`rblsmtpd: ${ip} pid ${process.pid}: ${msg}\n`);
    session(`${msg}\r\n`, st.timeout);
  }

  const args = execArgs(rest);
  prepareExec(inheritedFds());
  dieUnable(EXIT_TEMP, `run ${rest[0]}`, pathexec(args[0] as string | Buffer, args, execEnv(env)));
}
