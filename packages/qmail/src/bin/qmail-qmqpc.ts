// SPDX-License-Identifier: MIT
// qmail-qmqpc: qmail-queue's interface (message on fd 0, envelope on fd 1,
// the verdict in the exit code), but the message goes by QMQP to the first
// server in control/qmqpservers that takes the connection (qmail-qmqpc(8),
// qmail-qmqpc.c). mini-qmail runs it in place of qmail-queue.
import { Socket } from "node:net";
import { setProg, sigpipeIgnore } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import type { Env } from "@qts/core/run";
import { readChunks } from "../lib/child.ts";
import { Control } from "../lib/control.ts";
import { qmailHome } from "../lib/home.ts";
import { netstring } from "../lib/net/netstring.ts";
import { QQ } from "../lib/queue/qq.ts";

export const usage = "qmail-qmqpc";

const PORT_QMQP = 628;
/** timeoutconn(..., 10): the connection attempt. */
const CONNECT_MS = 10 * 1000;
/** timeoutread/timeoutwrite(60, ...): the exchange once connected. */
const IO_MS = 60 * 1000;

class Code extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

function readAll(fd: number): Buffer {
  const parts: Buffer[] = [];
  try {
    for (const c of readChunks(fd)) parts.push(Buffer.from(c));
  } catch (e) {
    throw new Code(errnoName(e) === "ENOMEM" ? QQ.NOMEM : QQ.READ);
  }
  return Buffer.concat(parts);
}

/**
 * getmess(): the message as a netstring, then the envelope's sender and
 * recipients as netstrings. The envelope must be "F" sender NUL, then "T"
 * recipient NUL for each, then a NUL; anything else is 91.
 */
function getmess(): Buffer {
  const message = readAll(0);
  const env = readAll(1);
  const fields: Buffer[] = [];
  let at = 0;
  for (;;) {
    const nul = env.indexOf(0, at);
    if (nul < 0) throw new Code(QQ.ENVELOPE);
    const line = env.subarray(at, nul + 1);
    at = nul + 1;
    if (fields.length === 0) {
      if (line.length < 2 || line[0] !== 0x46) throw new Code(QQ.ENVELOPE);
    } else {
      if (line.length < 2) break;
      if (line[0] !== 0x54) throw new Code(QQ.ENVELOPE);
    }
    fields.push(netstring(line.subarray(1, line.length - 1)));
  }
  return netstring(Buffer.concat([netstring(message), ...fields]));
}

/** ip_scan(): a dotted quad at the start of the line (what follows is ignored); undefined: the line is skipped. */
function ipScan(s: string): string | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)/.exec(s);
  if (!m) return undefined;
  return m
    .slice(1)
    .map((d) => Number(BigInt.asUintN(8, BigInt(d))))
    .join(".");
}

type Attempt = { code: number; final: boolean };

/** doit(): one server. Not final when the connection failed (73, or 72 on timeout): the next server is tried. */
function doit(server: string, packet: Buffer): Promise<Attempt> {
  return new Promise((resolve) => {
    const sock = new Socket();
    let connected = false;
    let settled = false;
    const done = (code: number, final: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ code, final });
    };
    let timer = setTimeout(() => done(QQ.CONN_TIMEOUT, false), CONNECT_MS);
    sock.on("error", () => (connected ? done(QQ.COMM_FAILED, true) : done(QQ.CONN_REJECTED, false)));
    sock.on("close", () => done(QQ.COMM_FAILED, true));
    sock.connect({ host: server, port: PORT_QMQP }, () => {
      connected = true;
      clearTimeout(timer);
      timer = setTimeout(() => done(QQ.COMM_FAILED, true), IO_MS);
      sock.write(packet);
    });
    // the reply: the first K, Z or D decides (the length digits and ":" before it are skipped)
    sock.on("data", (b: Buffer) => {
      clearTimeout(timer);
      timer = setTimeout(() => done(QQ.COMM_FAILED, true), IO_MS);
      for (const ch of b) {
        if (ch === 0x4b) return done(QQ.OK, true);
        if (ch === 0x5a) return done(QQ.TEMP_REFUSED, true);
        if (ch === 0x44) return done(QQ.PERM_REFUSED, true);
      }
    });
  });
}

export async function main(_argv: string[], env: Env): Promise<number> {
  setProg("qmail-qmqpc");
  sigpipeIgnore();
  const home = qmailHome(env);
  try {
    process.chdir(home);
  } catch {
    return QQ.HOME;
  }
  let servers: string[] | undefined;
  const c = new Control(home);
  try {
    c.me();
    servers = c.lines("qmqpservers");
  } catch {
    return QQ.CONFIG;
  }
  if (servers === undefined) return QQ.CONFIG;
  let packet: Buffer;
  try {
    packet = getmess();
  } catch (e) {
    if (e instanceof Code) return e.code;
    throw e;
  }
  let last: number = QQ.CONFIG;
  for (const s of servers) {
    const ip = ipScan(s);
    if (ip === undefined) continue;
    const r = await doit(ip, packet);
    if (r.final) return r.code;
    last = r.code;
  }
  return last;
}
