// SPDX-License-Identifier: MIT
import { Cdb } from "@qts/cdb/cdb";
import { dieUnable, Exit, setProg, usageLine, writeAll } from "@qts/core/die";
import { EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { closeSync, openSync } from "@qts/sys/fs";
import { findRule, type RuleHit } from "../lib/rules.ts";

export const usage = "tcprulescheck rules.cdb";

function describe(hit: RuleHit): Buffer {
  const out: Buffer[] = [Buffer.from(`rule ${hit.name}:\n`)];
  let data = hit.data;
  for (;;) {
    const nul = data.indexOf(0);
    if (nul < 0) break;
    if (data[0] === 0x44) {
      out.push(Buffer.from("deny connection\n"));
      return Buffer.concat(out);
    }
    if (data[0] === 0x2b) out.push(Buffer.from("set environment variable "), data.subarray(1, nul), Buffer.from("\n"));
    data = data.subarray(nul + 1);
  }
  out.push(Buffer.from("allow connection\n"));
  return Buffer.concat(out);
}

// tcprulescheck(1): which rule tcpserver would apply to TCPREMOTEIP/HOST/INFO.
export function main(argv: string[], env: Env): number {
  setProg("tcprulescheck");
  const fn = argv[0];
  if (fn === undefined) {
    usageLine(usage);
    throw new Exit(EXIT_USAGE);
  }
  const ip = env.TCPREMOTEIP ?? "0.0.0.0";
  let hit: RuleHit | undefined;
  try {
    const fd = openSync(fn, "r");
    try {
      hit = findRule(Cdb.fromFd(fd), ip, env.TCPREMOTEHOST, env.TCPREMOTEINFO);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    dieUnable(EXIT_TEMP, `read ${fn}`, e);
  }
  writeAll(1, hit ? describe(hit) : "default:\nallow connection\n");
  return 0;
}
