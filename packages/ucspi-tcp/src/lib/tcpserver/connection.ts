// SPDX-License-Identifier: MIT
// One connection's environment, as tcpserver.c's doit(): the local and remote
// names (-l, -h, -p), the ident answer (-r), then the rules (-x), whose
// variables come after tcpserver's own.
import { Cdb } from "@qts/cdb/cdb";
import { byteStr } from "@qts/core/bytes";
import { errnoName } from "@qts/core/errstr";
import type { Env } from "@qts/core/run";
import { closeSync, openSync } from "@qts/sys/fs";
import { type ConnAddrs, connEnv } from "../conn6.ts";
import type { EnvMod } from "../env.ts";
import { remoteInfo } from "../ident.ts";
import { ip4, name4 } from "../names.ts";
import { findRule, ruleAction } from "../rules.ts";
import { safe } from "./log.ts";
import type { Opts } from "./options.ts";

export interface Conn {
  addrs: ConnAddrs;
  localhost: string | undefined;
  remotehost: string | undefined;
  remoteinfo: string | undefined;
  /** TCPLOCALHOST and the others, then a rule's variables. */
  mods: EnvMod[];
  /** A rule said deny. */
  deny: boolean;
}

/** TCPREMOTEHOST: the name of the remote address; with -p only if that name has the address back. */
async function remoteHost(o: Opts, addrs: ConnAddrs, env: Env): Promise<string | undefined> {
  if (!o.remotehost) return undefined;
  const name = await name4(addrs.lookupRemote, env);
  if (!name) return undefined;
  if (!o.paranoid) return name;
  return ((await ip4(name, addrs.family, env)) ?? []).includes(addrs.lookupRemote) ? name : undefined;
}

/** The lookups, in C's order: local name, remote name, remote info. */
export async function lookups(o: Opts, addrs: ConnAddrs, env: Env): Promise<Conn> {
  let localhost = o.localhost;
  if (localhost === undefined) localhost = (await name4(addrs.lookupLocal, env)) || undefined;
  const remotehost = await remoteHost(o, addrs, env);
  let remoteinfo: string | undefined;
  if (o.remoteinfo)
    remoteinfo = await remoteInfo(addrs.identRemote, addrs.remotePort, addrs.identLocal, addrs.localPort, o.timeout);
  const mods: EnvMod[] = connEnv(
    addrs,
    localhost === undefined ? undefined : byteStr(localhost),
    remotehost,
    remoteinfo === undefined ? undefined : byteStr(remoteinfo),
  );
  return { addrs, localhost, remotehost, remoteinfo, mods, deny: false };
}

/**
 * -x: the connection's rule, if any, sets c.deny and appends its variables. Returns the error
 * when the rules cannot be read (a missing file is no error with -X).
 */
export function applyRules(o: Opts, c: Conn): unknown {
  if (o.rules === undefined) return undefined;
  let rfd: number;
  try {
    rfd = openSync(o.rules, "r");
  } catch (e) {
    return errnoName(e) !== "ENOENT" || !o.allowNoRules ? e : undefined;
  }
  try {
    const hit = findRule(Cdb.fromFd(rfd), c.addrs.remoteIp, c.remotehost, c.remoteinfo);
    if (hit) {
      const act = ruleAction(hit.data, "latin1");
      c.deny = act.deny;
      c.mods.push(...act.env);
    }
  } catch (e) {
    return e;
  } finally {
    closeSync(rfd);
  }
  return undefined;
}

/** -v's "ok" or "deny" line for the program pid. */
export function okLine(c: Conn, pid: number): string {
  const a = c.addrs;
  const v6 = a.v6;
  const local = `${c.localhost ? safe(c.localhost, v6) : ""}:${safe(a.localIp, v6)}:${safe(String(a.localPort))}`;
  const info = c.remoteinfo !== undefined ? safe(c.remoteinfo, v6) : "";
  const remote = `${c.remotehost ? safe(c.remotehost, v6) : ""}:${safe(a.remoteIp, v6)}:${info}:${safe(String(a.remotePort))}`;
  return `tcpserver: ${c.deny ? "deny" : "ok"} ${pid} ${local} ${remote}\n`;
}
