// SPDX-License-Identifier: MIT
// config (config(8)): qmail's config.sh, the DNS sibling of
// config-fast. The host's name, its canonical name in DNS (A, then PTR of the
// first address) into me, defaultdomain and plusdomain; the PTR names of the
// local addresses and of the canonical name's addresses into locals, copied to
// rcpthosts. Same messages; like the script it exits 0 after its advice.
import { hostname } from "node:os";
import { join } from "node:path";
import { dieUsage, errWrite, setProg, writeAll } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { copyControl, dnsErrorText, dnsFq, dnsIp, putControl, putMe, resConf, say } from "../lib/config/config.ts";
// The script pipes names through tr '[A-Z]' '[a-z]': ASCII only.
import { lowerAscii } from "../lib/cscan.ts";
import { qmailHome } from "../lib/home.ts";
import { ipme } from "../lib/net/addrip.ts";
import { Dns, DnsError } from "../lib/net/dns.ts";

export const usage = "config";

function yourself(): number {
  say("You will have to set up control/me yourself.");
  return 0;
}

export async function main(argv: string[], env: Env): Promise<number> {
  setProg("config");
  if (argv.length > 0) dieUsage(usage);
  const control = join(qmailHome(env), "control");
  let host: string;
  try {
    host = lowerAscii(hostname());
  } catch {
    say("Sorry, I couldn't find your hostname.");
    return yourself();
  }
  say(`Your hostname is ${host}.`);
  // The resolvers of /etc/resolv.conf, never qmail-remote's test override.
  const dns = new Dns({});
  let fqdn: string;
  try {
    fqdn = lowerAscii(await dnsFq(dns, host, resConf(env, host)));
  } catch (e) {
    // The script hides dnsfq's reason (2>/dev/null); we say it, and of which name.
    errWrite(`config: unable to find the canonical name of ${host} in DNS: ${dnsErrorText(e)}\n`);
    say("Sorry, I couldn't find your host's canonical name in DNS.");
    return yourself();
  }
  say(`Your host's fully qualified name in DNS is ${fqdn}.`);
  putMe(control, fqdn);
  say(" ");
  say("Checking local IP addresses:");
  putControl(control, "locals", "");
  const ips = new Set(ipme());
  try {
    for (const ip of await dnsIp(dns, fqdn)) ips.add(ip);
  } catch (e) {
    errWrite(`config: unable to find the addresses of ${fqdn} in DNS: ${dnsErrorText(e)}\n`);
  }
  // The script's `sort -u`, in byte order.
  for (const ip of [...ips].sort()) {
    writeAll(1, `${ip}: `);
    let name: string | undefined;
    try {
      name = await dns.ptr(ip);
    } catch (e) {
      if (!(e instanceof DnsError)) throw e;
    }
    if (name === undefined) say("PTR lookup failed. I assume this address has no DNS name.");
    else {
      say(`Adding ${name} to control/locals...`);
      putControl(control, "locals", `${name}\n`, true);
    }
  }
  say(" ");
  say("If there are any other domain names that point to you,");
  say(`you will have to add them to ${control}/locals.`);
  say("You don't have to worry about aliases, i.e., domains with CNAME records.");
  say(" ");
  say(`Copying ${control}/locals to ${control}/rcpthosts...`);
  copyControl(control, "locals", "rcpthosts");
  say("Now qmail will refuse to accept SMTP messages except to those hosts.");
  say("Make sure to change rcpthosts if you add hosts to locals or virtualdomains!");
  return 0;
}
