// SPDX-License-Identifier: MIT
import type { Env } from "@qts/core/run";

/**
 * DJB's pathexec_env + pathexec: the environment the child gets, in the same
 * order as C builds it. Each change removes an existing NAME by moving the
 * last entry into its slot, then appends NAME=value (undefined: removed).
 */
export function envPlus(env: Env, plus: readonly (readonly [string, string | undefined])[]): Record<string, string> {
  const e: [string, string][] = [];
  for (const [k, v] of Object.entries(env)) if (v !== undefined) e.push([k, v]);
  for (const [name, value] of plus) {
    const at = e.findIndex(([k]) => k === name);
    if (at >= 0) {
      const last = e.pop() as [string, string];
      if (at < e.length) e[at] = last;
    }
    if (value !== undefined) e.push([name, value]);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of e) out[k] = v;
  return out;
}
