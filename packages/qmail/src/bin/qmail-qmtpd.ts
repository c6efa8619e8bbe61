// SPDX-License-Identifier: MIT
// qmail-qmtpd: receives mail by QMTP (qmail-qmtpd(8), qmail-qmtpd.c; the
// protocol in D. J. Bernstein's qmtp.html): messages, each with its sender and
// recipients, as netstrings; one reply netstring per recipient.
import { setProg, sigpipeIgnore } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { Control } from "../lib/control.ts";
import { scanUlong } from "../lib/cscan.ts";
import { qmailHome } from "../lib/home.ts";
import { NetIn, netstring, Quit } from "../lib/net/netstring.ts";
import { writeFully } from "../lib/net/timeoutio.ts";
import { QmailQueue } from "../lib/queue/qmail.ts";
import { loadRcpthosts, type Rcpthosts, rcptAllowed } from "../lib/smtpd/rcpthosts.ts";
import { receivedLine } from "../lib/smtpd/received.ts";

export const usage = "qmail-qmtpd";

const R_RCPTHOSTS = "66:Dsorry, that domain isn't in my list of allowed rcpthosts (#5.7.1),";
const R_RECIPIENT = "46:Dsorry, I can't handle that recipient (#5.1.3),";
const SENDER = "Dunacceptable sender (#5.1.7)";
const SIZE = "Dsorry, that message size exceeds my databytes limit (#5.3.4)";

interface Config {
  home: string;
  env: Env;
  rh: Rcpthosts;
  relayclient?: string;
  databytes: number;
  local: string;
  remoteip: string;
  remotehost: string;
  remoteinfo?: string;
}

function loadConfig(env: Env): Config {
  const home = qmailHome(env);
  process.chdir(home);
  const c = new Control(home);
  c.me();
  const rh = loadRcpthosts(c);
  let databytes = c.int("databytes", 0) >>> 0;
  if (env.DATABYTES !== undefined) databytes = Number(BigInt.asUintN(32, scanUlong(env.DATABYTES)));
  if (databytes === 0xffffffff) databytes--;
  return {
    home,
    env,
    rh,
    relayclient: env.RELAYCLIENT,
    databytes,
    remotehost: env.TCPREMOTEHOST ?? "unknown",
    remoteinfo: env.TCPREMOTEINFO,
    remoteip: env.TCPREMOTEIP ?? "unknown",
    local: env.TCPLOCALHOST ?? env.TCPLOCALIP ?? "unknown",
  };
}

/** Replies wait in ssout until the next read (saferead flushes); a failed write ends the program with 0. */
class Out {
  private pending: string[] = [];
  put(s: string): void {
    this.pending.push(s);
  }
  flush(): void {
    if (!this.pending.length) return;
    const b = Buffer.from(this.pending.join(""), "latin1");
    this.pending = [];
    try {
      writeFully(1, b);
    } catch {
      throw new Quit(0);
    }
  }
}

/**
 * The message body into qq. A first byte of 13 says the client sends CRLF
 * lines: each CR LF becomes LF, a lone CR stays. With databytes, a message
 * that ends up longer fails (qmail_fail: nothing more is written).
 */
async function body(inp: NetIn, qq: QmailQueue, len: number, dos: boolean, databytes: number): Promise<boolean> {
  let count = 0;
  let failed = false;
  if (!dos) {
    if (databytes && len > databytes) failed = true;
    await inp.take(len, async (b) => {
      if (!failed) await qq.put(Buffer.from(b));
    });
    return !failed;
  }
  let cr = false;
  const emit = async (out: number[]) => {
    count += out.length;
    if (databytes && count > databytes) failed = true;
    if (!failed && out.length) await qq.put(Buffer.from(out));
  };
  await inp.take(len, async (b) => {
    const out: number[] = [];
    for (const ch of b) {
      if (cr) {
        if (ch === 10) {
          out.push(10);
          cr = false;
        } else if (ch === 13) out.push(13);
        else {
          out.push(13, ch);
          cr = false;
        }
      } else if (ch === 13) cr = true;
      else out.push(ch);
    }
    await emit(out);
  });
  if (cr) await emit([13]);
  return !failed;
}

/** The sender netstring: 1000 bytes or more, or a NUL in it, is refused (qmail-qmtpd.c's flagsenderok). */
async function senderOf(inp: NetIn): Promise<{ sender: Buffer; senderOk: boolean }> {
  const len = await inp.len();
  let senderOk = true;
  let sender: Buffer = Buffer.alloc(0);
  if (len >= 1000) {
    senderOk = false;
    await inp.take(len, () => {});
  } else {
    sender = await inp.bytes(len);
    if (sender.includes(0)) senderOk = false;
  }
  await inp.comma();
  return { sender, senderOk };
}

/** A recipient's length inside the recipients' netstring: its digits and colon, never past biglen. */
async function innerLen(inp: NetIn, biglen: number): Promise<{ len: number; biglen: number }> {
  let len = 0;
  for (;;) {
    if (!biglen) throw new Quit(100);
    const ch = await inp.byte();
    biglen--;
    if (ch === 0x3a) return { len, biglen };
    if (len > 200000000) throw new Quit(111);
    if (ch < 0x30 || ch > 0x39) throw new Quit(100);
    len = 10 * len + (ch - 0x30);
  }
}

/**
 * One recipient of len bytes: its failure letter (qmail-qmtpd.c's failure.s: "" accepted, L too
 * long, N a NUL in it, D not in rcpthosts) and the address, with $RELAYCLIENT appended if set.
 */
async function recipient(cfg: Config, inp: NetIn, len: number): Promise<{ f: string; addr: string }> {
  const relay = cfg.relayclient;
  if (len + (relay?.length ?? 0) >= 1000) {
    await inp.take(len, () => {});
    return { f: "L", addr: "" };
  }
  const b = await inp.bytes(len);
  let f = b.includes(0) ? "N" : "";
  let addr = b.toString("latin1");
  if (relay !== undefined) addr += relay;
  else {
    let ok: boolean;
    try {
      ok = rcptAllowed(cfg.rh, addr);
    } catch {
      throw new Quit(111);
    }
    if (!ok) f = "D";
  }
  return { f, addr };
}

/** The recipients, a netstring of netstrings: a failure letter for each, and the accepted ones. */
async function recipients(cfg: Config, inp: NetIn): Promise<{ failure: string[]; rcpts: string[] }> {
  const failure: string[] = [];
  const rcpts: string[] = [];
  let biglen = await inp.len();
  while (biglen > 0) {
    const inner = await innerLen(inp, biglen);
    const len = inner.len;
    biglen = inner.biglen;
    if (len >= biglen) throw new Quit(100);
    const { f, addr } = await recipient(cfg, inp, len);
    if (!f) rcpts.push(addr);
    failure.push(f);
    await inp.comma();
    biglen -= len + 1;
  }
  await inp.comma();
  return { failure, rcpts };
}

/** One message: its replies, or a Quit (the body of qmail-qmtpd.c's main loop). */
async function message(cfg: Config, inp: NetIn, out: Out, setOpen: (q?: QmailQueue) => void): Promise<void> {
  let len = await inp.len();
  if (len === 0) throw new Quit(100);
  const qq = new QmailQueue({ home: cfg.home, env: cfg.env });
  setOpen(qq);
  const first = await inp.byte();
  len--;
  let dos: boolean;
  if (first === 10) dos = false;
  else if (first === 13) dos = true;
  else throw new Quit(100);
  await qq.put(
    receivedLine({
      protocol: "QMTP",
      local: cfg.local,
      remoteip: cfg.remoteip,
      remotehost: cfg.remotehost,
      remoteinfo: cfg.remoteinfo,
    }),
  );
  const sizeOk = await body(inp, qq, len, dos, cfg.databytes);
  await inp.comma();
  const { sender, senderOk } = await senderOf(inp);
  const { failure, rcpts } = await recipients(cfg, inp);

  // qmail_fail(): no envelope goes out, so qmail-queue does not queue the message
  if (sizeOk && senderOk && rcpts.length) {
    qq.from(sender.toString("latin1"));
    for (const r of rcpts) qq.to(r);
  }
  const res = await qq.close();
  setOpen(undefined);
  let result = res.text || `Kok ${Math.floor(Date.now() / 1000)} qp ${res.pid}`;
  if (!senderOk) result = SENDER;
  if (!sizeOk) result = SIZE;
  const ok = netstring(result).toString("latin1");
  for (const f of failure) out.put(f === "" ? ok : f === "D" ? R_RCPTHOSTS : R_RECIPIENT);
}

export async function main(_argv: string[], env: Env): Promise<number> {
  setProg("qmail-qmtpd");
  sigpipeIgnore();
  let cfg: Config;
  try {
    cfg = loadConfig(env);
  } catch {
    return 111;
  }
  const out = new Out();
  const inp = new NetIn(0, () => out.flush());
  let open: QmailQueue | undefined;
  for (;;) {
    try {
      await message(cfg, inp, out, (q) => {
        open = q;
      });
    } catch (e) {
      if (!(e instanceof Quit)) throw e;
      // an unfinished message: qmail-queue sees no envelope and removes it
      if (open) await open.close();
      return e.code;
    }
  }
}
