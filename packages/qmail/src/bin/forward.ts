// SPDX-License-Identifier: MIT
import { die, dieUnable, errWrite, setProg, sigpipeIgnore } from "@qts/core/die";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { readChunks } from "../lib/child.ts";
import { openQueue, QueueOpenError } from "../lib/local/local.ts";
import type { QmailQueue } from "../lib/queue/qmail.ts";

export const usage = "forward address ...";

/**
 * Injects DTLINE + stdin with envelope sender `sender` and the recipients;
 * prints "PROG: qp N" and returns okCode on success (forward, condredirect).
 */
export async function reinject(
  prog: string,
  sender: string,
  dtline: string,
  recips: string[],
  env: Env,
  okCode: number,
) {
  let q: QmailQueue;
  try {
    q = openQueue(env);
  } catch (e) {
    if (e instanceof QueueOpenError) die(EXIT_TEMP, e.text.slice(1));
    dieUnable(EXIT_TEMP, "fork", e);
  }
  await q.put(Buffer.from(dtline, "utf8"));
  try {
    for (const b of readChunks(0)) await q.put(Buffer.from(b));
  } catch (e) {
    dieUnable(EXIT_TEMP, "read message", e);
  }
  // Envelope strings are written one char per byte: hand over the argv/env bytes.
  q.from(Buffer.from(sender, "utf8").toString("latin1"));
  for (const r of recips) q.to(Buffer.from(r, "utf8").toString("latin1"));
  const res = await q.close();
  if (res.text) die(res.text[0] === "D" ? EXIT_USAGE : EXIT_TEMP, res.text.slice(1));
  errWrite(`${prog}: qp ${q.pid}\n`);
  return okCode;
}

// forward(1): forward the message on stdin to the addresses, envelope sender $NEWSENDER.
export async function main(argv: string[], env: Env): Promise<number> {
  setProg("forward");
  sigpipeIgnore();
  // Should the event loop ever drain with the injection unfinished, the message must not count as forwarded.
  process.exitCode = EXIT_TEMP;
  const sender = env.NEWSENDER;
  if (sender === undefined) die(EXIT_USAGE, "NEWSENDER not set");
  const dtline = env.DTLINE;
  if (dtline === undefined) die(EXIT_USAGE, "DTLINE not set");
  return await reinject("forward", sender, dtline, argv, env, EXIT_OK);
}
