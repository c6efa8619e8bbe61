// SPDX-License-Identifier: MIT
// qmail-dkim: a qmail-queue for $QMAILQUEUE that signs the message with DKIM (RFC 6376) and hands
// it on, as the qmail-dkim patches do (qmail-dkim(8)): the message on fd 0, the envelope on fd 1,
// qmail-queue's exit codes.
import { basename, isAbsolute, join } from "node:path";
import { die, dieUnable, setProg, sigpipeIgnore } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import type { Env } from "@qts/core/run";
import { closeSync, constants, fstatSync, openSync, readFileSync } from "@qts/sys/fs";
import { readAll } from "@qts/ucspi-tcp/lib/readall";
import { addressDomain, type DkimKey, dkimSign, readKey, safeDomain, splitMessage } from "../lib/dkim/dkim.ts";
import { qmailHome } from "../lib/home.ts";
import { QmailQueue } from "../lib/queue/qmail.ts";
import { QQ } from "../lib/queue/qq.ts";

export const usage = "qmail-dkim";

/** The default DKIMSIGN: the key for the sender's domain, selector "default". */
export const DEFAULT_KEY = "control/domainkeys/%/default";

/** The envelope: "F"sender NUL, then "T"recipient NUL each, then NUL (qmail-queue(8)). */
function parseEnvelope(env: string): { from: string; to: string[] } | undefined {
  if (env[0] !== "F") return undefined;
  let at = env.indexOf("\0");
  if (at < 0) return undefined;
  const from = env.slice(1, at);
  const to: string[] = [];
  for (at++; ; ) {
    if (env[at] === "\0") return at + 1 === env.length ? { from, to } : undefined;
    if (env[at] !== "T") return undefined;
    const end = env.indexOf("\0", at);
    if (end < 0) return undefined;
    to.push(env.slice(at + 1, end));
    at = end + 1;
  }
}

/** The signing domain: From:'s, else Sender:'s, else the envelope sender's (the qmail-dkim patches' order). */
function signingDomain(msg: string, sender: string): string | undefined {
  const { fields } = splitMessage(msg);
  for (const name of ["from", "sender"]) {
    const f = fields.find((x) => x.name.toLowerCase() === name);
    if (f) return safeDomain(addressDomain(f.raw));
  }
  const at = sender.lastIndexOf("@");
  return at < 0 ? undefined : safeDomain(sender.slice(at + 1).toLowerCase());
}

/**
 * The key at path: undefined when there is none (the message goes unsigned). A key that group or
 * others may read or write, or that is not a regular file, is refused: 55, as an unreadable
 * control file.
 */
function loadKey(path: string): DkimKey | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = errnoName(e);
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    dieUnable(QQ.CONFIG, `read key ${path}: ${(e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) die(QQ.CONFIG, `key ${path} is not a regular file`);
    if (st.mode & 0o077)
      die(
        QQ.CONFIG,
        `key ${path} is accessible to group or others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it`,
      );
    try {
      return readKey(readFileSync(fd));
    } catch {
      dieUnable(QQ.CONFIG, `parse key ${path}`);
    }
  } finally {
    closeSync(fd);
  }
}

export async function main(_argv: string[], env: Env): Promise<number> {
  setProg("qmail-dkim");
  sigpipeIgnore();
  const home = qmailHome(env);
  let msg: string;
  let envelope: string;
  try {
    msg = readAll(0).toString("latin1");
    envelope = readAll(1).toString("latin1");
  } catch {
    return QQ.READ;
  }
  const e = parseEnvelope(envelope);
  if (!e) return QQ.ENVELOPE;

  let header = "";
  const domain = signingDomain(msg, e.from);
  if (domain !== undefined) {
    let path = (env.DKIMSIGN || DEFAULT_KEY).replaceAll("%", domain);
    if (!isAbsolute(path)) path = join(home, path);
    const key = loadKey(path);
    // The file's name is the selector (control/domainkeys/example.org/default: s=default).
    if (key) header = dkimSign(msg, key, domain, basename(path), Math.floor(Date.now() / 1000));
  }

  // The next queue: $DKIMQUEUE when set, else qmail-queue itself (in-process, as qmail-smtpd does).
  const next: Env = { ...env, QMAILQUEUE: env.DKIMQUEUE || undefined };
  const qq = new QmailQueue({ home, env: next });
  if (header) await qq.put(Buffer.from(header, "latin1"));
  await qq.put(Buffer.from(msg, "latin1"));
  qq.from(e.from);
  for (const r of e.to) qq.to(r);
  const r = await qq.close();
  return r.code === -1 ? QQ.BUG : r.code;
}
