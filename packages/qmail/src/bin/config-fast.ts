// SPDX-License-Identifier: MIT
// config-fast FQDN (spec/qmail.md §8.3): control/me, defaultdomain and
// plusdomain from the name, which is also appended to locals and rcpthosts;
// every file mode 644. Same messages as qmail's config-fast.sh.
import { appendFileSync, chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { dieSys, setProg, writeAll } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { qmailHome } from "../lib/home.ts";

export const usage = "config-fast fqdn";

/** config-fast.sh's first sed: drop the first label when two more dots follow it (a.b.c → b.c; a.b stays). */
export function defaultDomain(fqdn: string): string {
  return fqdn.replace(/^([^.]*)\.([^.]*)\./, "$2.");
}

/** The second sed: the last two labels when there are at least three (a.b.c.d → c.d; a.b stays). */
export function plusDomain(fqdn: string): string {
  return fqdn.replace(/^.*\.([^.]*)\.([^.]*)$/, "$1.$2");
}

export function main(argv: string[], env: Env): number {
  setProg("config-fast");
  const fqdn = argv[0] ?? "";
  const control = join(qmailHome(env), "control");
  const say = (s: string) => writeAll(1, `${s}\n`);
  const put = (name: string, value: string, append: boolean) => {
    const path = join(control, name);
    try {
      if (append) appendFileSync(path, `${value}\n`);
      else writeFileSync(path, `${value}\n`);
      chmodSync(path, 0o644);
    } catch (e) {
      dieSys(111, e, `unable to write ${path}`);
    }
  };
  say(`Your fully qualified host name is ${fqdn}.`);
  say(`Putting ${fqdn} into control/me...`);
  put("me", fqdn, false);
  const ddom = defaultDomain(fqdn);
  say(`Putting ${ddom} into control/defaultdomain...`);
  put("defaultdomain", ddom, false);
  const pdom = plusDomain(fqdn);
  say(`Putting ${pdom} into control/plusdomain...`);
  put("plusdomain", pdom, false);
  say(`Putting ${fqdn} into control/locals...`);
  put("locals", fqdn, true);
  say(`Putting ${fqdn} into control/rcpthosts...`);
  put("rcpthosts", fqdn, true);
  say(`Now qmail will refuse to accept SMTP messages except to ${fqdn}.`);
  say("Make sure to change rcpthosts if you add hosts to locals or virtualdomains!");
  return 0;
}
