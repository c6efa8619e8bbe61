// SPDX-License-Identifier: MIT
// qmail-qmqpd: receives one message by QMQP (qmail-qmqpd(8), qmail-qmqpd.c;
// the protocol in D. J. Bernstein's qmqp.html) and queues it, for whatever
// recipients the client names: tcpserver's rules must admit only trusted clients.
import { setProg, sigpipeIgnore } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { qmailHome } from "../lib/home.ts";
import { NetIn, netstring, Quit } from "../lib/net/netstring.ts";
import { writeFully } from "../lib/net/timeoutio.ts";
import { QmailQueue } from "../lib/queue/qmail.ts";
import { receivedLine } from "../lib/smtpd/received.ts";

export const usage = "qmail-qmqpd";

/** getbuf(): an address netstring; undefined when it is 1000 bytes or more or holds a NUL (flagok = 0). */
async function getbuf(inp: NetIn): Promise<Buffer | undefined> {
  const len = await inp.len();
  if (len >= 1000) {
    await inp.take(len, () => {});
    await inp.comma();
    return undefined;
  }
  const b = await inp.bytes(len);
  await inp.comma();
  return b.includes(0) ? undefined : b;
}

async function session(env: Env, inp: NetIn, open: (qq: QmailQueue) => void): Promise<string> {
  // bytesleft starts at 100: the outer length's digits may not go on for ever
  inp.left = 100;
  inp.left = await inp.len();
  const mlen = await inp.len();
  const home = qmailHome(env);
  try {
    process.chdir(home);
  } catch {
    throw new Quit(111);
  }
  const qq = new QmailQueue({ home, env });
  open(qq);
  await qq.put(
    receivedLine({
      protocol: "QMQP",
      local: env.TCPLOCALHOST ?? env.TCPLOCALIP ?? "unknown",
      remoteip: env.TCPREMOTEIP ?? "unknown",
      remotehost: env.TCPREMOTEHOST ?? "unknown",
      remoteinfo: env.TCPREMOTEINFO,
    }),
  );
  await inp.take(mlen, (b) => qq.put(b));
  await inp.comma();
  let ok = true;
  const sender = await getbuf(inp);
  if (!sender) ok = false;
  const rcpts: Buffer[] = [];
  while (inp.left > 0) {
    const r = await getbuf(inp);
    if (r) rcpts.push(r);
    else ok = false;
  }
  inp.left = 1;
  await inp.comma();
  // qmail_fail() on a bad address: no envelope goes out, so nothing is queued
  if (ok && sender) {
    qq.from(sender.toString("latin1"));
    for (const r of rcpts) qq.to(r.toString("latin1"));
  }
  const res = await qq.close();
  if (!ok) return "Dsorry, I can't accept addresses like that (#5.1.3)";
  if (res.text) return res.text;
  return `Kok ${Math.floor(Date.now() / 1000)} qp ${res.pid}`;
}

export async function main(_argv: string[], env: Env): Promise<number> {
  setProg("qmail-qmqpd");
  sigpipeIgnore();
  const inp = new NetIn(0);
  let qq: QmailQueue | undefined;
  let result: string;
  try {
    result = await session(env, inp, (q) => {
      qq = q;
    });
  } catch (e) {
    if (!(e instanceof Quit)) throw e;
    // the C exits with qmail-queue still reading: it sees no envelope and removes the message
    if (qq) await (qq as QmailQueue).close();
    return e.code;
  }
  try {
    writeFully(1, netstring(result));
  } catch {}
  return 0;
}
