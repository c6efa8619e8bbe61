// SPDX-License-Identifier: MIT
import { dirname, resolve } from "node:path";
import { dieUnable, setProg } from "@qts/core/die";
import { EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { dup2 } from "@qts/sys/dup";
import { closeSync, constants, existsSync, openSync, readdirSync } from "@qts/sys/fs";
import { pipe } from "@qts/sys/pipe";
import { setProcName } from "@qts/sys/procname";
import { onSigchld, reapChild, startChildPath } from "../lib/child.ts";

export const usage = "svscanboot [dir]";

const PATH = "/command:/usr/local/bin:/usr/local/sbin:/bin:/sbin:/usr/bin:/usr/sbin:/usr/X11R6/bin";

/** sh's expansion of dir/* and dir/*\/log: sorted, dot-files skipped, the pattern itself when nothing matches. */
function services(dir: string): string[] {
  let names: string[] = [];
  try {
    names = readdirSync(dir)
      .filter((n) => !n.startsWith("."))
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  } catch {}
  const all = names.map((n) => `${dir}/${n}`);
  const logs = all.filter((p) => existsSync(`${p}/log`)).map((p) => `${p}/log`);
  return [...(all.length ? all : [`${dir}/*`]), ...(logs.length ? logs : [`${dir}/*/log`])];
}

// svscanboot(8), Debian's script: stop leftover supervisors, then
// `svscan DIR 2>&1 | readproctitle service errors: ....` (400 dots) with only PATH set.
export function main(argv: string[], env: Env): Promise<number> {
  setProg("svscanboot");
  try {
    setProcName("svscanboot");
  } catch {}
  const dir = argv[0] ?? "/etc/service";
  // Our extension: the directory holding this svscanboot comes first, so it finds its own svscan;
  // absolute, since svscan looks its programs up from inside the service directory.
  const self = process.argv0.includes("/") ? resolve(dirname(process.argv0)) : "";
  const path = self ? `${self}:${PATH}` : PATH;
  let nul = -1;
  try {
    nul = openSync("/dev/null", constants.O_RDWR);
  } catch (e) {
    dieUnable(EXIT_TEMP, "open /dev/null", e);
  }
  // exec </dev/null >/dev/null 2>/dev/null, as the script does for itself.
  for (const fd of [0, 1, 2]) {
    try {
      dup2(nul, fd);
    } catch {}
  }
  const quiet: [number, number][] = [
    [0, nul],
    [1, nul],
    [2, nul],
  ];
  const pids = new Map<number, number | undefined>();
  let wake: (() => void) | undefined;
  onSigchld(() => wake?.());
  const waitAll = async (list: number[]): Promise<void> => {
    for (;;) {
      for (const p of list) {
        if (pids.get(p) === undefined) {
          const st = reapChild(p);
          if (st !== undefined) pids.set(p, st);
        }
      }
      if (list.every((p) => pids.get(p) !== undefined)) return;
      await new Promise<void>((ok) => {
        wake = ok;
        setTimeout(ok, 1000);
      });
    }
  };
  const start = (name: string, args: string[], childEnv: string[], dup2: [number, number][]): number => {
    try {
      const p = startChildPath(name, [name, ...args], path, { dup2, env: childEnv });
      pids.set(p, undefined);
      return p;
    } catch {
      return 0;
    }
  };
  const fullEnv = Object.entries({ ...env, PATH: path })
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  return (async () => {
    const svc = start("svc", ["-dx", ...services(dir)], fullEnv, quiet);
    if (svc) await waitAll([svc]);
    const [r, w] = pipe();
    const only = [`PATH=${path}`];
    const scan = start("svscan", [dir], only, [
      [0, nul],
      [1, w],
      [2, w],
    ]);
    const title = start("readproctitle", ["service", "errors:", ".".repeat(400)], only, [
      [0, r],
      [1, nul],
      [2, nul],
    ]);
    closeSync(r);
    closeSync(w);
    await waitAll([scan, title].filter((p) => p));
    const st = title ? (pids.get(title) ?? 0) : 127 << 8;
    return st & 0x7f ? 128 + (st & 0x7f) : (st >> 8) & 0xff;
  })();
}
