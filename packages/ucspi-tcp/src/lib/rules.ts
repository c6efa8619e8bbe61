// SPDX-License-Identifier: MIT
// tcprules' text syntax and tcpserver's rule lookup (tcprules(1), tcpserver(1)).
import type { Cdb } from "@qts/cdb/cdb";

/** A line tcprules cannot parse; line is the line with trailing \n, spaces and tabs removed. */
export class BadLine extends Error {
  constructor(readonly line: Buffer) {
    super("unable to parse this line");
  }
}

const COLON = 0x3a;
const DENY = Buffer.from("deny");
const ALLOW = Buffer.from("allow");
const D0 = Buffer.from("D\0");
const PLUS = Buffer.from("+");
const NUL = Buffer.from([0]);
const EMPTY = Buffer.alloc(0);

function startsWith(b: Buffer, at: number, word: Buffer): boolean {
  if (b.length - at < word.length) return false;
  for (let i = 0; i < word.length; i++) if (b[at + i] !== word[i]) return false;
  return true;
}

// scan_ulong must consume the whole text (an empty text is 0).
function getnum(b: Buffer, line: Buffer): bigint {
  let u = 0n;
  for (const c of b) {
    if (c < 0x30 || c > 0x39) throw new BadLine(line);
    u = (u * 10n + BigInt(c - 0x30)) & 0xffffffffffffffffn;
  }
  return u;
}

// A key without '=' and '@' that holds '-' is a range: the octet with '-' runs bot..top (top capped at 255).
function addAddress(address: Buffer, data: Buffer, line: Buffer, add: (k: Buffer, d: Buffer) => void): void {
  if (address.indexOf(0x3d) < 0 && address.indexOf(0x40) < 0) {
    let i = address.indexOf(0x2d);
    if (i >= 0) {
      const dot = address.subarray(0, i).lastIndexOf(0x2e);
      const left = dot < 0 ? 0 : dot + 1;
      const bot0 = getnum(address.subarray(left, i), line);
      i++;
      const next = address.indexOf(0x2e, i);
      const right = next < 0 ? address.length : next;
      let top = getnum(address.subarray(i, right), line);
      if (top > 255n) top = 255n;
      for (let bot = bot0; bot <= top; bot++) {
        add(Buffer.concat([address.subarray(0, left), Buffer.from(String(bot)), address.subarray(right)]), data);
      }
      return;
    }
  }
  add(address, data);
}

// ucspi-tcp-ipv6's tcprules: the address ends at the first ':' that "allow" or "deny" follows, so
// "::1:allow" and "fd00::2:deny" are IPv6 rules; with no such ':', at the first ':' as in 0.88 (which
// then cannot parse the line; Debian's IPv6 tcprules loops forever on such a line instead).
function ruleColon(line: Buffer): number {
  for (let c = line.indexOf(COLON); c >= 0; c = line.indexOf(COLON, c + 1)) {
    if (startsWith(line, c + 1, ALLOW) || startsWith(line, c + 1, DENY)) return c;
  }
  return line.indexOf(COLON);
}

/**
 * Compiles tcprules input to (key, data) records in tcprules' order: lines
 * starting with '#', empty lines and lines without ':' are skipped; the rest
 * is `address:deny|allow` then `,NAME=<q>value<q>` items with any quote
 * character. Throws BadLine on anything else.
 */
export function compileRules(input: Buffer, add: (key: Buffer, data: Buffer) => void): void {
  let at = 0;
  while (at < input.length) {
    const nl = input.indexOf(0x0a, at);
    const end = nl < 0 ? input.length : nl + 1;
    const raw = input.subarray(at, end);
    at = end;
    if (raw[0] === 0x23 || raw[0] === 0x0a) continue;
    const line = trimEnd(raw);
    const colon = ruleColon(line);
    if (colon < 0) continue;
    const parts = ruleData(line, colon + 1);
    addAddress(
      line.subarray(0, colon),
      parts.length === 0 ? EMPTY : parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts),
      line,
      add,
    );
  }
}

/** The line without its trailing newline, spaces and tabs. */
function trimEnd(raw: Buffer): Buffer {
  let len = raw.length;
  while (len > 0) {
    const ch = raw[len - 1];
    if (ch !== 0x0a && ch !== 0x20 && ch !== 0x09) break;
    len--;
  }
  return raw.subarray(0, len);
}

/** The record's data from line[x]: "D" for deny, then "+NAME=value\0" per variable. */
function ruleData(line: Buffer, x: number): Buffer[] {
  const len = line.length;
  const parts: Buffer[] = [];
  if (startsWith(line, x, DENY)) {
    parts.push(D0);
    x += 4;
  } else if (startsWith(line, x, ALLOW)) {
    x += 5;
  } else throw new BadLine(line);
  while (x < len) {
    if (line[x] !== 0x2c) throw new BadLine(line);
    const eq = line.indexOf(0x3d, x);
    if (eq < 0) throw new BadLine(line);
    // "+NAME=" (the name runs from after ',' through '=')
    parts.push(PLUS, line.subarray(x + 1, eq + 1));
    x = eq + 1;
    if (x >= len) throw new BadLine(line);
    const q = line[x] as number;
    x++;
    const close = line.indexOf(q, x);
    if (close < 0) throw new BadLine(line);
    parts.push(line.subarray(x, close), NUL);
    x = close + 1;
  }
  return parts;
}

export interface RuleHit {
  /** The key that matched ("" for the default rule). */
  name: string;
  data: Buffer;
}

/**
 * rules(): the first key present among INFO@IP, INFO@=HOST, IP, =HOST, the
 * prefixes of IP ending in '.' (or, for IPv6 as ucspi-tcp-ipv6 does, ':'), longest first, =.SUFFIX for each '.' in HOST
 * then '=', and finally "". Throws on a corrupt cdb (EPROTO).
 */
export function findRule(db: Cdb, ip: string, host?: string, info?: string): RuleHit | undefined {
  for (const name of ruleKeys(ip, host, info)) {
    const data = db.get(name);
    if (data !== undefined) return { name, data };
  }
  return undefined;
}

/** The keys rules() tries, in order. */
export function* ruleKeys(ip: string, host?: string, info?: string): Generator<string> {
  if (info !== undefined) {
    yield `${info}@${ip}`;
    if (host !== undefined) yield `${info}@=${host}`;
  }
  yield ip;
  if (host !== undefined) yield `=${host}`;
  for (let n = ip.length; n > 0; n--) if (ip[n - 1] === "." || ip[n - 1] === ":") yield ip.slice(0, n);
  if (host !== undefined) {
    for (let i = 0; i < host.length; i++) if (host[i] === ".") yield `=${host.slice(i)}`;
    yield "=";
  }
  yield "";
}

export interface RuleAction {
  deny: boolean;
  /** Variables to set, in order (tcpserver's found(): "+NAME=value" items). */
  env: [string, string][];
}

/**
 * tcpserver's reading of a rule's data: NUL-terminated items, 'D' denies, '+NAME=value' sets;
 * names and values decoded with encoding ("latin1": byte strings, core/bytes.ts).
 */
export function ruleAction(data: Buffer, encoding: BufferEncoding = "utf8"): RuleAction {
  const out: RuleAction = { deny: false, env: [] };
  let at = 0;
  for (;;) {
    const nul = data.indexOf(0, at);
    if (nul < 0) break;
    const item = data.subarray(at, nul);
    if (item[0] === 0x44) out.deny = true;
    else if (item[0] === 0x2b) {
      const eq = item.indexOf(0x3d, 1);
      if (eq >= 0) out.env.push([item.subarray(1, eq).toString(encoding), item.subarray(eq + 1).toString(encoding)]);
    }
    at = nul + 1;
  }
  return out;
}
