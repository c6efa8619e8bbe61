// SPDX-License-Identifier: MIT
// tcpserver(1)'s command line: the options, each one line of a table, as tcpserver.c's getopt loop.
import { dieUsage } from "@qts/core/die";
import { getopt } from "@qts/core/getopt";
import type { Env } from "@qts/core/run";
import { scanUlong } from "../names.ts";
import { SHARED_SET } from "../options.ts";

export interface Opts {
  verbosity: number;
  killopts: boolean;
  delay: boolean;
  banner: string;
  remoteinfo: boolean;
  remotehost: boolean;
  paranoid: boolean;
  timeout: number;
  rules?: string;
  allowNoRules: boolean;
  localhost?: string;
  limit: number;
  backlog: number;
  uid: number;
  gid: number;
  flag1: boolean;
  /** -4 (ucspi-tcp-ipv6): IPv4 sockets only. */
  noipv6: boolean;
  /** -6: IPv6 variables (PROTO=TCP6, v4-mapped addresses) for IPv4 connections too. */
  forcev6: boolean;
  /** -I: the interface for link-local addresses. */
  iface?: string;
}

const num = (s: string | undefined) => scanUlong(s ?? "").value;

type Setter = (o: Opts, arg: string | undefined, env: Env) => void;

const SET: Record<string, Setter> = {
  ...SHARED_SET,
  b: (o, a) => {
    o.backlog = num(a);
  },
  c: (o, a) => {
    o.limit = num(a);
  },
  X: (o) => {
    o.allowNoRules = true;
  },
  x: (o, a) => {
    o.rules = a;
  },
  B: (o, a) => {
    o.banner = a ?? "";
  },
  P: (o) => {
    o.paranoid = false;
  },
  p: (o) => {
    o.paranoid = true;
  },
  O: (o) => {
    o.killopts = true;
  },
  o: (o) => {
    o.killopts = false;
  },
  t: (o, a) => {
    o.timeout = num(a);
  },
  U: (o, _a, env) => {
    if (env.UID !== undefined) o.uid = num(env.UID);
    if (env.GID !== undefined) o.gid = num(env.GID);
  },
  u: (o, a) => {
    o.uid = num(a);
  },
  g: (o, a) => {
    o.gid = num(a);
  },
  "1": (o) => {
    o.flag1 = true;
  },
  l: (o, a) => {
    o.localhost = a;
  },
};

/** The options, then host, port and the program; a bad option or a missing host or port is usage (100). */
export function parseOptions(
  argv: string[],
  env: Env,
  usage: string,
): { o: Opts; host: string; port: string; prog: string[] } {
  const o: Opts = {
    verbosity: 1,
    killopts: true,
    delay: true,
    banner: "",
    remoteinfo: true,
    remotehost: true,
    paranoid: false,
    timeout: 26,
    allowNoRules: false,
    limit: 40,
    backlog: 20,
    uid: 0,
    gid: 0,
    flag1: false,
    noipv6: false,
    forcev6: false,
  };
  const { opts, rest } = getopt(argv, "46dDvqQhHrR1UXx:t:u:g:l:b:B:c:I:pPoO");
  for (const { opt, arg } of opts) {
    const set = Object.hasOwn(SET, opt) ? SET[opt] : undefined;
    if (!set) dieUsage(usage);
    set(o, arg, env);
  }
  const [host, port, ...prog] = rest;
  // Debian's tcpserver and tcpclient exit 100 without the usage line when host or port is missing
  // after -q (verbosity 0); an unknown option prints it whatever the verbosity.
  if (host === undefined || port === undefined) dieUsage(usage, o.verbosity === 0);
  return { o, host, port, prog };
}
