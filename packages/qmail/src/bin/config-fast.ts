// SPDX-License-Identifier: MIT
// config-fast FQDN (config-fast(8)): control/me, defaultdomain and
// plusdomain from the name, which is also appended to locals and rcpthosts;
// every file mode 644. Same messages as qmail's config-fast.sh.
import { join } from "node:path";
import { setProg } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { putControl, putMe, say } from "../lib/config/config.ts";
import { qmailHome } from "../lib/home.ts";

export const usage = "config-fast fqdn";

export function main(argv: string[], env: Env): number {
  setProg("config-fast");
  const fqdn = argv[0] ?? "";
  const control = join(qmailHome(env), "control");
  say(`Your fully qualified host name is ${fqdn}.`);
  putMe(control, fqdn);
  say(`Putting ${fqdn} into control/locals...`);
  putControl(control, "locals", `${fqdn}\n`, true);
  say(`Putting ${fqdn} into control/rcpthosts...`);
  putControl(control, "rcpthosts", `${fqdn}\n`, true);
  say(`Now qmail will refuse to accept SMTP messages except to ${fqdn}.`);
  say("Make sure to change rcpthosts if you add hosts to locals or virtualdomains!");
  return 0;
}
