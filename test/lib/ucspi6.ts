// SPDX-License-Identifier: MIT
// Debian's ucspi-tcp-ipv6 (the IPv6 patch of ucspi-tcp 0.88), downloaded and unpacked beside the
// installed ucspi-tcp, with which it conflicts.
import { existsSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run, runSync } from "./harness.ts";

const CACHE = join(tmpdir(), "qts-ucspi-tcp-ipv6-cache");

/** The directory holding Debian's IPv6 tcpserver, tcpclient, tcprules; undefined when it cannot be had. */
export async function fetchUcspi6(): Promise<string | undefined> {
  const bin = join(CACHE, "root/usr/bin");
  if (existsSync(join(bin, "tcpserver"))) return bin;
  mkdirSync(CACHE, { recursive: true });
  const r = await run("sh", ["-c", "apt-get download ucspi-tcp-ipv6 && dpkg -x ucspi-tcp-ipv6_*.deb root"], {
    cwd: CACHE,
    timeout: 60_000,
  });
  if (r.code !== 0 || !existsSync(join(bin, "tcpserver"))) return undefined;
  return bin;
}

/** Whether this host has ::1 (an IPv6 loopback). */
export function hasIpv6Loopback(): boolean {
  const r = runSync("ip", ["-6", "addr", "show", "dev", "lo"]);
  return r.stdout.includes("::1/128");
}

/** The first link-local address and its interface, e.g. ["fe80::1", "eth0"]; undefined when there is none. */
export function linkLocal(): [string, string] | undefined {
  const r = runSync("ip", ["-6", "-o", "addr", "show", "scope", "link"]);
  const m = /^\d+:\s+(\S+)\s+inet6\s+(fe80:[0-9a-f:]+)\//m.exec(r.stdout);
  return m ? [m[2] as string, m[1] as string] : undefined;
}
