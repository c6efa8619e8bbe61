// SPDX-License-Identifier: MIT
// What config-fast and config share (config-fast(8), config(8)): the control files
// both scripts write with the same messages, and config's DNS steps, which
// qmail runs as helper programs (hostname, dnsfq, dnsip, ipmeprint, dnsptr).
import { dieSys, writeAll } from "@qts/core/die";
import { join } from "@qts/core/path";
import type { Env } from "@qts/core/run";
import { appendFileSync, chmodSync, copyFileSync, readFileSync, writeFileSync } from "@qts/sys/fs";
import { ipLiteral } from "../net/addrip.ts";
import { DNS_HARD, type Dns, DnsError } from "../net/dns.ts";

/** config-fast.sh's first sed: drop the first label when two more dots follow it (a.b.c → b.c; a.b stays). */
export function defaultDomain(fqdn: string): string {
  return fqdn.replace(/^([^.]*)\.([^.]*)\./, "$2.");
}

/** The second sed: the last two labels when there are at least three (a.b.c.d → c.d; a.b stays). */
export function plusDomain(fqdn: string): string {
  return fqdn.replace(/^.*\.([^.]*)\.([^.]*)$/, "$1.$2");
}

/** One line of the scripts' output. */
export function say(s: string): void {
  writeAll(1, `${s}\n`);
}

/** The scripts' `echo ... > control/NAME` (or `>>`), then `chmod 644`; a failure is fatal (111). */
export function putControl(control: string, name: string, text: string, append = false): void {
  const path = join(control, name);
  try {
    if (append) appendFileSync(path, text);
    else writeFileSync(path, text);
    chmodSync(path, 0o644);
  } catch (e) {
    dieSys(111, e, `unable to write ${path}`);
  }
}

/** `cp control/FROM control/TO`, then `chmod 644`. */
export function copyControl(control: string, from: string, to: string): void {
  const path = join(control, to);
  try {
    copyFileSync(join(control, from), path);
    chmodSync(path, 0o644);
  } catch (e) {
    dieSys(111, e, `unable to copy ${join(control, from)} to ${path}`);
  }
}

/** me, defaultdomain and plusdomain from fqdn, as both scripts write them. */
export function putMe(control: string, fqdn: string): void {
  say(`Putting ${fqdn} into control/me...`);
  putControl(control, "me", `${fqdn}\n`);
  const ddom = defaultDomain(fqdn);
  say(`Putting ${ddom} into control/defaultdomain...`);
  putControl(control, "defaultdomain", `${ddom}\n`);
  const pdom = plusDomain(fqdn);
  say(`Putting ${pdom} into control/plusdomain...`);
  putControl(control, "plusdomain", `${pdom}\n`);
}

export interface ResConf {
  search: string[];
  ndots: number;
}

/** ndots from an `options` line's words (res_init caps it at 15); the last one wins. */
function optionsNdots(s: string, ndots: number): number {
  let n = ndots;
  for (const o of s.split(/[ \t]+/)) {
    const m = /^ndots:(\d+)$/.exec(o);
    if (m) n = Math.min(Number(m[1]), 15);
  }
  return n;
}

/** /etc/resolv.conf's text, or nothing when it cannot be read. */
function readResolvConf(): string {
  try {
    return readFileSync("/etc/resolv.conf", "latin1");
  } catch {
    return "";
  }
}

/** resolv.conf's last `search` or `domain` line (undefined when none) and its `options` lines' ndots. */
function parseResolvConf(conf: string): { search: string[] | undefined; ndots: number } {
  let search: string[] | undefined;
  let ndots = 1;
  for (const line of conf.split("\n")) {
    const m = /^(domain|search|options)[ \t]+(.*)$/.exec(line);
    if (!m) continue;
    const words = (m[2] ?? "").split(/[ \t]+/).filter((w) => w.length > 0 && !w.startsWith("#") && !w.startsWith(";"));
    if (m[1] === "options") ndots = optionsNdots(m[2] ?? "", ndots);
    else if (words.length > 0) search = m[1] === "domain" ? words.slice(0, 1) : words;
  }
  return { search, ndots };
}

/**
 * The resolver's search list and ndots, as glibc's res_init finds them:
 * $LOCALDOMAIN, else the last `search` or `domain` line of /etc/resolv.conf,
 * else the host name's part after its first dot; ndots from `options` and
 * $RES_OPTIONS.
 */
export function resConf(env: Env, host: string, text?: string): ResConf {
  let { search, ndots } = parseResolvConf(text ?? readResolvConf());
  if (env.LOCALDOMAIN !== undefined) search = env.LOCALDOMAIN.split(/[ \t\n]+/).filter((w) => w.length > 0);
  if (env.RES_OPTIONS) ndots = optionsNdots(env.RES_OPTIONS, ndots);
  if (search === undefined) {
    const dot = host.indexOf(".");
    search = dot >= 0 && dot + 1 < host.length ? [host.slice(dot + 1)] : [];
  }
  return { search, ndots };
}

/**
 * res_search's order of names to try: as given first when it has ndots dots
 * (only as given when it ends in a dot), then with each search domain, then
 * as given if not tried yet.
 */
export function searchNames(name: string, conf: ResConf): { names: string[]; asIsFirst: boolean } {
  const dots = name.split(".").length - 1;
  const trailing = name.endsWith(".");
  const names: string[] = [];
  const asIsFirst = dots >= conf.ndots || trailing;
  if (asIsFirst) names.push(name);
  if (trailing) return { names, asIsFirst };
  let rootListed = false;
  for (const d of conf.search) {
    if (d === "." || d === "") rootListed = true;
    names.push(d === "." || d === "" ? name : `${name}.${d.replace(/\.$/, "")}`);
  }
  if (!asIsFirst && !rootListed) names.push(name);
  return { names, asIsFirst };
}

/** dns.ip's addresses for name, or the DnsError it failed with (any other error is thrown). */
async function ipsOrError(dns: Dns, name: string): Promise<string[] | DnsError> {
  try {
    return (await dns.ip(name)).map((x) => x.ip);
  } catch (e) {
    if (!(e instanceof DnsError)) throw e;
    return e;
  }
}

/** dnsip: the A records of name (dns_ip: a literal is itself); with conf, res_search's names in turn. */
export async function dnsIp(dns: Dns, name: string, conf?: ResConf): Promise<string[]> {
  if (!conf || ipLiteral(name) !== undefined || name === "") return (await dns.ip(name)).map((x) => x.ip);
  const { names, asIsFirst } = searchNames(name, conf);
  let first: DnsError | undefined;
  let last: DnsError = new DnsError(DNS_HARD);
  let stop = false;
  for (const [i, n] of names.entries()) {
    const searching = !(asIsFirst && i === 0) && n !== name;
    if (stop && searching) continue;
    const r = await ipsOrError(dns, n);
    if (!(r instanceof DnsError)) return r;
    last = r;
    if (asIsFirst && i === 0) first = r;
    // res_search gives up on the search list after a timeout or refusal.
    else if (searching && r.kind !== DNS_HARD) stop = true;
  }
  throw first ?? last;
}

/** dnsfq's "no IP addresses": the host name has an A answer without addresses. */
export class NoAddresses extends Error {
  constructor() {
    super("no IP addresses");
  }
}

/** dnsfq: the PTR name of the first address of host (the host name searched as the resolver does). */
export async function dnsFq(dns: Dns, host: string, conf: ResConf): Promise<string> {
  const ips = await dnsIp(dns, host, conf);
  if (ips[0] === undefined) throw new NoAddresses();
  return await dns.ptr(ips[0]);
}

/** dnsdoe's words for a failed lookup. */
export function dnsErrorText(e: unknown): string {
  if (e instanceof DnsError) return `${e.kind} error`;
  if (e instanceof NoAddresses) return e.message;
  throw e;
}
