// SPDX-License-Identifier: MIT
// DKIM signing (RFC 6376) with rsa-sha256 and ed25519-sha256 (RFC 8463), relaxed/relaxed, for
// qmail-dkim(8); the DNS record to publish for a key, for dknewkey(8). Messages are byte strings
// (latin1, one char per byte) with LF line ends, as they sit in the queue; the canonical forms use
// CRLF, as on the wire (RFC 6376 section 3.4).
import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign } from "node:crypto";

/** Header fields signed when present (RFC 6376 section 5.4.1's list); From is signed once more than it occurs. */
export const SIGNED_HEADERS = [
  "from",
  "sender",
  "reply-to",
  "subject",
  "date",
  "message-id",
  "to",
  "cc",
  "mime-version",
  "content-type",
  "content-transfer-encoding",
  "content-id",
  "content-description",
  "resent-date",
  "resent-from",
  "resent-sender",
  "resent-to",
  "resent-cc",
  "resent-message-id",
  "in-reply-to",
  "references",
  "list-id",
  "list-help",
  "list-unsubscribe",
  "list-subscribe",
  "list-post",
  "list-owner",
  "list-archive",
];

export interface HeaderField {
  /** The name as written. */
  name: string;
  /** The whole field as stored: "Name: value\n" with its continuation lines. */
  raw: string;
}

/** Splits a message into its header fields and its body (after the empty line; "" when there is none). */
export function splitMessage(msg: string): { fields: HeaderField[]; body: string } {
  const fields: HeaderField[] = [];
  let at = 0;
  while (at < msg.length) {
    if (msg[at] === "\n") return { fields, body: msg.slice(at + 1) };
    let end = msg.indexOf("\n", at);
    while (end >= 0 && (msg[end + 1] === " " || msg[end + 1] === "\t")) end = msg.indexOf("\n", end + 1);
    const stop = end < 0 ? msg.length : end + 1;
    const raw = msg.slice(at, stop);
    const colon = raw.indexOf(":");
    fields.push({ name: (colon < 0 ? raw : raw.slice(0, colon)).trim(), raw });
    at = stop;
  }
  return { fields, body: "" };
}

/** RFC 6376 section 3.4.2: lower-case name, unfolded value, runs of blanks as one space, none at the ends. */
export function relaxedHeader(raw: string): string {
  const colon = raw.indexOf(":");
  const name = raw
    .slice(0, colon)
    .replace(/[ \t]+$/, "")
    .toLowerCase();
  const value = raw
    .slice(colon + 1)
    .replace(/\r?\n/g, "")
    .replace(/[ \t]+/g, " ")
    .trim();
  return `${name}:${value}`;
}

/** RFC 6376 section 3.4.4: blanks in a line as one space, none at a line's end, no empty lines at the end. */
export function relaxedBody(body: string): string {
  const lines = body.split("\n");
  // The text after the last LF is a partial line (qmail-remote would refuse it); it counts as a line.
  if (lines[lines.length - 1] === "") lines.pop();
  const out = lines.map((l) => l.replace(/[ \t]+/g, " ").replace(/ $/, ""));
  while (out.length > 0 && out[out.length - 1] === "") out.pop();
  return out.length === 0 ? "" : `${out.join("\r\n")}\r\n`;
}

export type DkimAlg = "rsa-sha256" | "ed25519-sha256";

export interface DkimKey {
  alg: DkimAlg;
  key: KeyObject;
}

/** A PEM private key (RSA in PKCS#1 or PKCS#8, Ed25519 in PKCS#8); throws on anything else. */
export function readKey(pem: string | Buffer): DkimKey {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType === "rsa") return { alg: "rsa-sha256", key };
  if (key.asymmetricKeyType === "ed25519") return { alg: "ed25519-sha256", key };
  throw new Error(`unsupported key type ${key.asymmetricKeyType}`);
}

/** The TXT record's text (RFC 6376 section 3.6.1; for Ed25519 the raw 32-byte key, RFC 8463 section 4). */
export function txtRecord(k: DkimKey): string {
  const pub = createPublicKey(k.key);
  if (k.alg === "ed25519-sha256") {
    const raw = Buffer.from((pub.export({ format: "jwk" }) as { x: string }).x, "base64url");
    return `v=DKIM1; k=ed25519; p=${raw.toString("base64")}`;
  }
  return `v=DKIM1; k=rsa; p=${(pub.export({ format: "der", type: "spki" }) as Buffer).toString("base64")}`;
}

/** The zone-file line for a selector and domain: the text cut into 255-byte strings. */
export function txtZoneLine(selector: string, domain: string, k: DkimKey): string {
  const text = txtRecord(k);
  const parts: string[] = [];
  for (let i = 0; i < text.length; i += 255) parts.push(`"${text.slice(i, i + 255)}"`);
  return `${selector}._domainkey.${domain}. IN TXT ( ${parts.join(" ")} )\n`;
}

/** Folds "tag=value" items into header lines of at most about 76 bytes, continuation lines starting with a tab. */
function fold(prefix: string, items: string[]): string {
  let out = prefix;
  let line = prefix.length;
  for (const [i, item] of items.entries()) {
    const piece = i === items.length - 1 ? item : `${item};`;
    if (line + 1 + piece.length > 76 && line > 1) {
      out += "\n\t";
      line = 1;
    } else if (i > 0 || prefix.endsWith(":")) {
      out += " ";
      line++;
    }
    out += piece;
    line += piece.length;
  }
  return out;
}

/**
 * The DKIM-Signature field (ending in LF) for msg, signed by k for domain and selector at unix
 * time t. The b= value is folded into 72-byte pieces; relaxed canonicalisation ignores the folds.
 */
export function dkimSign(msg: string, k: DkimKey, domain: string, selector: string, t: number): string {
  const { fields, body } = splitMessage(msg);
  const bh = createHash("sha256").update(relaxedBody(body), "latin1").digest("base64");
  // h= names fields bottom-up per name (RFC 6376 section 5.4.2): list each occurrence.
  const counts = new Map<string, number>();
  for (const f of fields) {
    const n = f.name.toLowerCase();
    if (SIGNED_HEADERS.includes(n)) counts.set(n, (counts.get(n) ?? 0) + 1);
  }
  const h: string[] = [];
  for (const n of SIGNED_HEADERS) {
    const c = (counts.get(n) ?? 0) + (n === "from" ? 1 : 0);
    for (let i = 0; i < c; i++) h.push(n);
  }
  const used = new Map<string, number>();
  let data = "";
  for (const n of h) {
    const all = fields.filter((f) => f.name.toLowerCase() === n);
    const k2 = used.get(n) ?? 0;
    used.set(n, k2 + 1);
    const f = all[all.length - 1 - k2];
    // A name listed more often than it occurs signs the null string (the oversigned From).
    if (f) data += `${relaxedHeader(f.raw)}\r\n`;
  }
  const sel = `DKIM-Signature:`;
  const tags = [
    "v=1",
    `a=${k.alg}`,
    "c=relaxed/relaxed",
    `d=${domain}`,
    `s=${selector}`,
    `t=${t}`,
    `h=${h.join(":")}`,
    `bh=${bh}`,
    "b=",
  ];
  const unsigned = fold(sel, tags);
  data += relaxedHeader(unsigned);
  const input = Buffer.from(data, "latin1");
  const b =
    k.alg === "rsa-sha256"
      ? sign("sha256", input, k.key)
      : sign(null, createHash("sha256").update(input).digest(), k.key);
  const b64 = b.toString("base64");
  // Blanks after "b=" belong to its value, which a verifier empties (RFC 6376 section 3.5): the value
  // may start on a line of its own.
  let folded = "";
  for (let i = 0; i < b64.length; i += 72) folded += `\n\t ${b64.slice(i, i + 72)}`;
  return `${unsigned}${folded}\n`;
}

/** The domain of the first address in a From: (or Sender:) field's value; undefined when there is none. */
export function addressDomain(raw: string): string | undefined {
  let v = raw.slice(raw.indexOf(":") + 1).replace(/\n/g, "");
  // comments, then the first angle address or the whole text
  for (let i = 0; i < 5 && /\([^()]*\)/.test(v); i++) v = v.replace(/\([^()]*\)/g, " ");
  const angle = /<([^>]*)>/.exec(v);
  let addr = angle ? (angle[1] as string) : (v.split(",")[0] as string);
  addr = addr.trim();
  const at = addr.lastIndexOf("@");
  if (at < 0) return undefined;
  const d = addr
    .slice(at + 1)
    .trim()
    .toLowerCase();
  return d || undefined;
}

/**
 * A domain usable in a key file's name and in d=: letters, digits, '-', '_' and inner dots. Others
 * (a '/', "..", a space) would reach outside control/domainkeys; such a message goes unsigned.
 */
export function safeDomain(d: string | undefined): string | undefined {
  if (!d) return undefined;
  return /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(d) ? d : undefined;
}
