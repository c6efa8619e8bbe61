// SPDX-License-Identifier: MIT
import type { Env } from "@qts/core/run";

/** One pathexec_env() call: set NAME to value, or remove NAME when value is undefined. */
export type EnvMod = readonly [name: string, value: string | undefined];

/**
 * DJB's pathexec: start from the current environ ("NAME=value" entries, in
 * order) and apply each change: the first entry with that name is removed
 * by moving the last entry into its place, then a new value is appended.
 * The child's environment comes out in exactly the original's order.
 */
export function pathexecEnv(base: readonly string[], mods: readonly EnvMod[]): string[] {
  const e = base.slice();
  for (const [name, value] of mods) {
    const prefix = `${name}=`;
    for (let t = 0; t < e.length; t++) {
      if ((e[t] as string).startsWith(prefix)) {
        const last = e.pop() as string;
        if (t < e.length) e[t] = last;
        break;
      }
    }
    if (value !== undefined) e.push(prefix + value);
  }
  return e;
}

/** The process environment as environ entries, in order. */
export function environ(env: Env): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out.push(`${k}=${v}`);
  return out;
}
