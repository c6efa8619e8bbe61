// SPDX-License-Identifier: MIT
// qmail-send's recipient rewriting and VERP (qmail-send.c). Strings
// hold bytes as latin1 characters; domain lookups ignore ASCII case, like
// constmap. qmail-inject's rewriting, the first of the two stages and
// different on purpose, is in inject-rewrite.ts, which says how they differ.
import { lowerAscii } from "../cscan.ts";

/** constmap: a case-insensitive (ASCII) set of keys, with values for flagcolon files. */
export class ConstMap {
  private readonly map = new Map<string, string>();

  /** lines: control file lines; with colon, "key:value" (lines without a colon are skipped). */
  constructor(lines: readonly string[], colon: boolean) {
    for (const l of lines) {
      let k = l;
      let v = "";
      if (colon) {
        const i = l.indexOf(":");
        if (i < 0) continue;
        k = l.slice(0, i);
        v = l.slice(i + 1);
      }
      const key = lowerAscii(k);
      // constmap chains the newest entry first, so the last line for a key wins.
      this.map.set(key, v);
    }
  }

  get(key: string): string | undefined {
    return this.map.get(lowerAscii(key));
  }
}

export interface RewriteConf {
  envnoathost: string;
  percenthack: ConstMap;
  locals: ConstMap;
  vdoms: ConstMap;
}

/** rewrite(): the address for the channel: 0 local, 1 remote. */
export function rewrite(recip: string, conf: RewriteConf): { addr: string; channel: 0 | 1 } {
  let addr = recip;
  let i = addr.lastIndexOf("@");
  if (i < 0) {
    addr = `${addr}@${conf.envnoathost}`;
    i = addr.length - 1 - conf.envnoathost.length;
  }
  while (conf.percenthack.get(addr.slice(i + 1)) !== undefined) {
    const j = addr.lastIndexOf("%", i - 1);
    if (j < 0) break;
    addr = `${addr.slice(0, j)}@${addr.slice(j + 1, i)}`;
    i = j;
  }
  const at = addr.lastIndexOf("@");
  if (conf.locals.get(addr.slice(at + 1)) !== undefined) return { addr, channel: 0 };
  // virtualdomains: the whole address first, then its domain
  let x = conf.vdoms.get(addr);
  if (x === undefined) x = vdomPrefix(conf.vdoms, addr.slice(at + 1));
  return x ? { addr: `${x}-${addr}`, channel: 0 } : { addr, channel: 1 };
}

/**
 * virtualdomains' prefix for a domain (rewrite() and stripvdomprepend()): the domain itself, then each
 * .suffix from the longest, then the empty catch-all; the first entry found decides, and an empty
 * prefix means the domain is not virtual.
 */
function vdomPrefix(vdoms: ConstMap, domain: string): string {
  for (let k = 0; k <= domain.length; k++) {
    if (k === 0 || k === domain.length || domain[k] === ".") {
      const x = vdoms.get(domain.slice(k));
      if (x !== undefined) return x;
    }
  }
  return "";
}

/** senderadd(): a VERP sender owner-@host-@[] becomes owner-recipbox=reciphost@host for each recipient. */
export function verpSender(sender: string, recip: string): string {
  const i = sender.length;
  if (i >= 4 && sender.endsWith("-@[]")) {
    const j0 = sender.lastIndexOf("@", i - 5);
    const j = j0 < 0 ? i - 4 : j0;
    const k = recip.lastIndexOf("@");
    if (k >= 0 && j + 5 <= i) {
      return `${sender.slice(0, j)}${recip.slice(0, k)}=${recip.slice(k + 1)}@${sender.slice(j + 1, i - 4)}`;
    }
  }
  return sender;
}

/** stripvdomprepend(): a recipient that virtualdomains prefixed, without its "prefix-", for the bounce. */
export function stripVdomPrepend(recip: string, vdoms: ConstMap): string {
  const i = recip.lastIndexOf("@");
  if (i < 0) return recip;
  const prepend = vdomPrefix(vdoms, recip.slice(i + 1));
  if (!prepend || recip.slice(0, prepend.length) !== prepend || recip[prepend.length] !== "-") return recip;
  return recip.slice(prepend.length + 1);
}
