// SPDX-License-Identifier: MIT
// qmail's users and groups (conf-users, conf-groups), looked up by name as
// notqmail's inituid()/initgid() do; a missing one is a start-up failure.
import { getgrnam, getpwnam } from "@qts/sys/pwd";

export class MissingId extends Error {}

export function uidOf(name: string): number {
  const pw = getpwnam(name);
  if (!pw) throw new MissingId(`no user ${name}`);
  return pw.uid;
}

export function gidOf(name: string): number {
  const gr = getgrnam(name);
  if (!gr) throw new MissingId(`no group ${name}`);
  return gr.gid;
}
