// SPDX-License-Identifier: MIT
// qmail-send's bounces (qmail-send.c's addbounce() and injectbounce()): each
// failed recipient's report is appended to bounce/N; once the message is
// done, bounce/N and the message go back to the sender through qmail-queue
// in one failure notice (qmail-send(8)). Strings hold bytes as latin1.
import { errnoName } from "@qts/core/errstr";
import type { Env } from "@qts/core/run";
import { closeSync, constants, openSync, readSync, statSync, unlinkSync, writeSync } from "@qts/sys/fs";
import { date822 } from "../date822.ts";
import { QmailQueue } from "../queue/qmail.ts";
import { fmtqfn, getinfo } from "./send-files.ts";
import { quote, quote2 } from "./send-quote.ts";
import { type ConstMap, stripVdomPrepend } from "./send-rewrite.ts";

/** The controls a bounce uses (qmail-send.c's getcontrols()). */
export interface BounceControls {
  /** control/bouncefrom: the failure notice's From: local part. */
  bouncefrom: string;
  /** control/bouncehost: the failure notice's From: host and the greeting's host. */
  bouncehost: string;
  /** control/doublebounceto @ control/doublebouncehost: where a bounce to <> goes. */
  doublebounceto: string;
  /** control/virtualdomains: its prefixes come off the recipients a bounce names. */
  vdoms: ConstMap;
}

/** What the bounce section needs from qmail-send. */
export interface BounceContext {
  home: string;
  env: Env;
  ctl: BounceControls;
  log(s: string): void;
}

function sleepSync(sec: number): void {
  Bun.sleepSync(sec * 1000);
}

/** addbounce()'s text for one failed recipient. */
export function bounceEntry(recip: string, report: string): string {
  let t = `<${recip}`.replace(/\n/g, "_");
  t += `>:\n${report}`;
  if (report && !report.endsWith("\n")) t += "\n";
  const b = Buffer.from(t, "latin1");
  for (let pos = b.length - 2; pos > 0; --pos) if (b[pos] === 10 && b[pos - 1] === 10) b[pos] = 0x2f;
  return `${b.toString("latin1")}\n`;
}

/** addbounce(): the report appended to bounce/N, retried every 10 seconds until it is there. */
export function addbounce(cx: BounceContext, id: number, recip: string, report: string): void {
  const text = Buffer.from(bounceEntry(stripVdomPrepend(recip, cx.ctl.vdoms), report), "latin1");
  const fn = fmtqfn("bounce/", id, false);
  let fd: number;
  for (;;) {
    try {
      fd = openSync(fn, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_APPEND | constants.O_CREAT, 0o600);
      break;
    } catch {
      cx.log("alert: unable to append to bounce message; HELP! sleeping...\n");
      sleepSync(10);
    }
  }
  let pos = 0;
  while (pos < text.length) {
    try {
      pos += writeSync(fd, text, pos);
    } catch {
      cx.log("alert: unable to append to bounce message; HELP! sleeping...\n");
      sleepSync(10);
    }
  }
  closeSync(fd);
}

/** injectbounce(): the failure notice for bounce/N queued (or a triple bounce dropped), then bounce/N removed. */
export async function injectbounce(cx: BounceContext, id: number): Promise<boolean> {
  const info = getinfo(id);
  if (!info) return false;
  let sender = info.sender;
  // owner-@host-@[] -> owner-@host
  if (sender.endsWith("-@[]")) sender = sender.slice(0, -4);
  const fn2 = fmtqfn("bounce/", id, false);
  try {
    statSync(fn2);
  } catch (e) {
    if (errnoName(e) === "ENOENT") return true;
    cx.log(`warning: unable to stat ${fn2}\n`);
    return false;
  }
  if (sender === "#@[]") cx.log(`triple bounce: discarding ${fn2}\n`);
  else if (!(await queueBounce(cx, id, sender))) return false;
  try {
    unlinkSync(fn2);
  } catch {
    cx.log(`warning: unable to unlink ${fn2}\n`);
    return false;
  }
  return true;
}

/** The failure notice through qmail-queue: to the sender, or for a bounce to <> a double bounce to doublebounceto. */
async function queueBounce(cx: BounceContext, id: number, sender: string): Promise<boolean> {
  const ctl = cx.ctl;
  let qq: QmailQueue;
  try {
    qq = new QmailQueue({ home: cx.home, env: cx.env });
  } catch {
    cx.log("warning: unable to start qmail-queue, will try later\n");
    return false;
  }
  const bouncesender = sender ? "" : "#@[]";
  const bouncerecip = sender ? sender : ctl.doublebounceto;
  const put = (s: string) => qq.put(Buffer.from(s, "latin1"));
  await put(`Date: ${date822(Date.now())}\n`);
  await put(`From: ${quote(ctl.bouncefrom)}@${ctl.bouncehost}\nTo: ${quote2(bouncerecip)}\n`);
  await put(`Subject: failure notice\n\nHi. This is the qmail-send program at ${ctl.bouncehost}`);
  await put(
    sender
      ? ".\nI'm afraid I wasn't able to deliver your message to the following addresses.\nThis is a permanent error; I've given up. Sorry it didn't work out.\n\n"
      : ".\nI tried to deliver a bounce message to this address, but the bounce bounced!\n\n",
  );
  let ok = await copyFile(fmtqfn("bounce/", id, false), qq);
  await put(
    sender ? "--- Below this line is a copy of the message.\n\n" : "--- Below this line is the original bounce.\n\n",
  );
  await put(`Return-Path: <${quote2(sender)}>\n`);
  ok = (await copyFile(fmtqfn("mess/", id, true), qq)) && ok;
  // qmail_fail(): without the envelope qmail-queue queues nothing.
  if (ok) {
    qq.from(bouncesender);
    qq.to(bouncerecip);
  }
  const r = await qq.close();
  if (!ok || r.text) {
    cx.log("warning: trouble injecting bounce message, will try later\n");
    return false;
  }
  // the qp the bounce's Received line names (known once it is queued: qmail-queued's own number)
  cx.log(`bounce msg ${id} qp ${r.pid}\n`);
  return true;
}

/** A queue file into qmail-queue (injectbounce()'s copy loops); false if it cannot be read. */
async function copyFile(fn: string, qq: QmailQueue): Promise<boolean> {
  let fd: number;
  try {
    fd = openSync(fn, "r");
  } catch {
    return false;
  }
  try {
    const buf = Buffer.alloc(65536);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      await qq.put(Buffer.from(buf.subarray(0, n)));
    }
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}
