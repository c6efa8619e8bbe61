// SPDX-License-Identifier: MIT
// How qmail-lspawn and qmail-rspawn turn a child's exit status and output
// into one K/Z/D report (spawn.c, qmail-lspawn.c, qmail-rspawn.c).
import type { Outcome } from "./spawn.ts";
import { QLX } from "./users.ts";

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
  const len = s.length;
  if (!len) return Buffer.from("Zqmail-remote produced no output.\n");
  let result = -1;
  let j = 0;
  for (let k = 0; k < len; k++) {
    if (s[k] !== 0) continue;
    if (s[j] === 0x4b) {
      result = 1;
      break;
    }
    if (s[j] === 0x5a) {
      result = 0;
      break;
    }
    if (s[j] === 0x44) break;
    j = k + 1;
  }
  let orr = result;
  if (s[0] === 0x73) orr = 0;
  else if (s[0] === 0x68) orr = -1;
  const parts: Buffer[] = [Buffer.from(orr === 1 ? "K" : orr === 0 ? "Z" : "D")];
  for (let k = 1; k < len; ) {
    if (s[k++] !== 0) continue;
    parts.push(upToNul(s, 1));
    if (result <= orr && k < len) {
      const ch = s[k];
      if (ch === 0x5a || ch === 0x44 || ch === 0x4b) parts.push(upToNul(s, k + 1));
    }
    break;
  }
  return Buffer.concat(parts);
}
