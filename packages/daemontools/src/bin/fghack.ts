// SPDX-License-Identifier: MIT
import { spawn } from "node:child_process";
import { closeSync, readSync } from "node:fs";
import { die, dieSys, dieUsage, setProg } from "@qts/core/die";
import { EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { pipe } from "@qts/sys/pipe";

export const usage = "fghack child";

// spec/daemontools-ucspi.md §5: the child holds 31 copies of the pipe's write end (the pipe and its 30
// dups), so the read below ends only when every descendant that kept them has gone.
export function main(argv: string[], env: Env): Promise<number> {
  setProg("fghack");
  if (argv.length === 0) dieUsage(usage);
  let fds: [number, number];
  try {
    fds = pipe();
  } catch (e) {
    dieSys(EXIT_TEMP, e, "unable to create pipe");
  }
  const [r, w] = fds;
  const stdio: ("inherit" | number)[] = ["inherit", "inherit", "inherit"];
  for (let i = 0; i < 31; i++) stdio.push(w);
  const child = spawn(argv[0] as string, argv.slice(1), { stdio, env, argv0: argv[0] });
  const exited = new Promise<number>((ok) => {
    child.on("error", (e) => {
      try {
        dieSys(EXIT_TEMP, e, "unable to run ", argv[0] as string);
      } catch {
        ok(EXIT_TEMP);
      }
    });
    child.on("exit", (code, sig) => {
      if (sig !== null) {
        try {
          die(EXIT_TEMP, "child crashed");
        } catch {
          ok(EXIT_TEMP);
        }
      } else ok(code ?? EXIT_TEMP);
    });
  });
  closeSync(w);
  const b = Buffer.alloc(1);
  for (;;) {
    try {
      if (readSync(r, b, 0, 1, null) === 1) continue;
    } catch (e) {
      if ((e as { code?: string }).code === "EINTR" || (e as { code?: string }).code === "EAGAIN") continue;
    }
    break;
  }
  return exited;
}
