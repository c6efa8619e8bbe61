// SPDX-License-Identifier: MIT
// How qmail-lspawn and qmail-rspawn turn a child's exit status and output
// into one K/Z/D report (spawn.c, qmail-lspawn.c, qmail-rspawn.c).

import { QLX } from "../users/users.ts";
import type { Outcome } from "./spawn.ts";

const QLX_TEXT: Record<number, string> = {
  [QLX.CDB]: "ZTrouble reading users/cdb in qmail-lspawn.\n",
  [QLX.NOMEM]: "ZOut of memory in qmail-lspawn.\n",
  [QLX.SYS]: "ZTemporary failure in qmail-lspawn.\n",
  [QLX.NOALIAS]: "ZUnable to find alias user!\n",
  [QLX.ROOT]: "ZNot allowed to perform deliveries as root.\n",
  [QLX.USAGE]: "ZInternal qmail-lspawn bug.\n",
  [QLX.NFS]: "ZNFS failure in qmail-local.\n",
  [QLX.EXECHARD]: "DUnable to run qmail-local.\n",
  [QLX.EXECSOFT]: "ZUnable to run qmail-local.\n",
  [QLX.EXECPW]: "ZUnable to run qmail-getpw.\n",
};

function upToNul(b: Buffer, from = 0): Buffer {
  const z = b.indexOf(0, from);
  return b.subarray(from, z < 0 ? b.length : z);
}

/** qmail-lspawn's report(): 0 -> K; 111, 71, 74, 75 -> Z; anything else -> D; text up to the first NUL. */
export function lspawnReport(o: Outcome, output: Buffer): Buffer {
  if (o.crashed) return Buffer.from("Zqmail-local crashed.\n");
  const fixed = QLX_TEXT[o.code];
  if (fixed !== undefined) return Buffer.from(fixed);
  let letter = "D";
  if (o.code === 0) letter = "K";
  else if (o.code === 111 || o.code === 71 || o.code === 74 || o.code === 75) letter = "Z";
  return Buffer.concat([Buffer.from(letter), upToNul(output)]);
}

/**
 * report()'s first loop in qmail-rspawn.c: the message report (the first
 * NUL-ended report starting K, Z or D) as 1, 0 or -1; -1 when there is none.
 */
function messageResult(s: Buffer): number {
  let j = 0;
  for (let k = 0; k < s.length; k++) {
    if (s[k] !== 0) continue;
    if (s[j] === 0x4b) return 1;
    if (s[j] === 0x5a) return 0;
    if (s[j] === 0x44) return -1;
    j = k + 1;
  }
  return -1;
}

/**
 * report()'s last loop: the first report's text (after its letter), then the
 * next report's when that is a message report and result is no more optimistic than orr.
 * Nothing when s has no NUL after its first byte.
 */
function reportText(s: Buffer, result: number, orr: number): Buffer[] {
  const k = s.indexOf(0, 1) + 1;
  if (k === 0) return [];
  const parts = [upToNul(s, 1)];
  const ch = s[k];
  if (result <= orr && k < s.length && (ch === 0x5a || ch === 0x44 || ch === 0x4b)) parts.push(upToNul(s, k + 1));
  return parts;
}

/**
 * qmail-rspawn's report(): qmail-remote's recipient reports (r/h/s) and its
 * message report (K/Z/D) become one result. An s first means Z, an h first
 * means D, otherwise the message letter; the text is the first report's,
 * followed by the next one's when that is a message report no more
 * optimistic than the result.
 */
export function rspawnReport(o: Outcome, s: Buffer): Buffer {
  if (o.crashed) return Buffer.from("Zqmail-remote crashed.\n");
  if (o.code === 111) return Buffer.from("ZUnable to run qmail-remote.\n");
  if (o.code !== 0) return Buffer.from("DUnable to run qmail-remote.\n");
  if (!s.length) return Buffer.from("Zqmail-remote produced no output.\n");
  const result = messageResult(s);
  let orr = result;
  if (s[0] === 0x73) orr = 0;
  else if (s[0] === 0x68) orr = -1;
  const letter = Buffer.from(orr === 1 ? "K" : orr === 0 ? "Z" : "D");
  return Buffer.concat([letter, ...reportText(s, result, orr)]);
}
