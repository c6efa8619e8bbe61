// SPDX-License-Identifier: MIT
// qreceipt.c: answer a message whose Notice-Requested-Upon-Delivery-To field
// names this delivery address with a success notice to its envelope sender.
import { rawArgs, rawEnv } from "@qts/core/bytes";
import { Exit, setProg, sigpipeIgnore, usageLine, writeAll } from "@qts/core/die";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { H, known } from "../lib/inject/header.ts";
import { headerbody, lines } from "../lib/inject/headerbody.ts";
import { addrlist, parse, unquote } from "../lib/inject/token822.ts";
import { QmailQueue } from "../lib/queue/qmail.ts";
import { quote2 } from "../lib/send/send-quote.ts";

export const usage = "qreceipt deliveryaddress";

/** "qreceipt: fatal: text" (a byte string), then exit with code. */
function fatal(code: number, text: string): never {
  try {
    writeAll(2, Buffer.from(`qreceipt: fatal: ${text}`, "latin1"));
  } catch {}
  throw new Exit(code);
}

/** finishheader(): the notice, when one was asked for this address by a sender who can get it. */
async function notice(target: string, returnpath: string, messageid: string | undefined): Promise<void> {
  if (returnpath === "" || returnpath === "#@[]") throw new Exit(EXIT_OK);
  const quoted = quote2(returnpath);
  const qq = new QmailQueue();
  let m = `From: DELIVERY NOTICE SYSTEM <${quoted}>\nTo: <${quoted}>\nSubject: success notice\n\n`;
  m += "Hi! This is the qreceipt program. Your message was delivered to the\n";
  m += `following address: ${target}. Thanks for asking.\n`;
  if (messageid !== undefined) m += `Your ${messageid}`;
  await qq.put(Buffer.from(m, "latin1"));
  qq.from("");
  qq.to(returnpath);
  const r = await qq.close();
  if (r.text.startsWith("D")) fatal(EXIT_USAGE, "permanent qmail-queue error\n");
  if (r.text !== "") fatal(EXIT_TEMP, "temporary qmail-queue error\n");
}

/** Whether a Notice-Requested-Upon-Delivery-To field names target (qreceipt.c's doheaderfield). */
function asksFor(h: string, target: string): boolean {
  let wanted = false;
  const t = parse(h);
  const rewritten =
    t &&
    addrlist(t, (a) => {
      if (unquote([...a].reverse()) === target) wanted = true;
    });
  if (!rewritten) fatal(EXIT_USAGE, `unable to parse this: ${h}`);
  return wanted;
}

// qreceipt.c's main loop: doheaderfield for each field, finishheader where the header ends.
async function message(target: string, returnpath: string): Promise<number> {
  let wanted = false;
  let messageid: string | undefined;
  for (const part of headerbody(lines(0))) {
    if ("field" in part) {
      const h = part.field;
      const k = known(h);
      if (k === H.MESSAGEID) messageid = h;
      else if (k === H.NOTICEREQUESTED && asksFor(h, target)) wanted = true;
    } else if ("end" in part) {
      if (!wanted) return EXIT_OK;
      await notice(target, returnpath, messageid);
    }
  }
  return EXIT_OK;
}

export async function main(argv: string[], env: Env): Promise<number> {
  setProg("qreceipt");
  sigpipeIgnore();
  // Byte strings throughout (core/bytes.ts): addresses and fields keep their bytes.
  const target = argv[0] === undefined ? undefined : (rawArgs(argv)[0] as string);
  const returnpath = rawEnv(env).SENDER;
  if (target === undefined || returnpath === undefined) {
    usageLine(usage);
    throw new Exit(EXIT_USAGE);
  }
  try {
    return await message(target, returnpath);
  } catch (e) {
    if (e instanceof Exit) throw e;
    fatal(EXIT_TEMP, "read error\n");
  }
}
