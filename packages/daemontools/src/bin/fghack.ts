// SPDX-License-Identifier: MIT
import { spawn } from "node:child_process";
import { closeSync, readSync } from "node:fs";
import { die, dieSys, dieUsage, setProg } from "@qts/core/die";
import { EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { inheritedFds, spawnEnv } from "@qts/sys/exec";
import { pipe } from "@qts/sys/pipe";
import { getrlimit, RLIMIT } from "@qts/sys/rlimit";

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
  // The copies take the 31 lowest fd numbers the child has free, as C's dup() gives them; fds we
  // inherited without close-on-exec keep their numbers.
  const inherited = new Set(inheritedFds([r, w]));
  const stdio: ("inherit" | "ignore" | number)[] = ["inherit", "inherit", "inherit"];
  let fd = 3;
  // C's dup() fails silently past the soft RLIMIT_NOFILE: fewer copies then (one fewer here: Bun's
  // spawn needs a free fd number above the last slot).
  const max = Number(getrlimit(RLIMIT.NOFILE).soft);
  for (let n = 0; n < 31 && fd < max - 1; fd++) {
    if (inherited.has(fd)) stdio.push(fd);
    else {
      stdio.push(w);
      n++;
    }
  }
  // Higher inherited fds keep their numbers too (the gaps below them stay closed).
  // Bun's spawn cannot place an fd at or above the soft limit: such inherited fds are not handed on.
  const top = Math.max(-1, ...[...inherited].filter((i) => i < max - 1));
  for (; fd <= top; fd++) stdio.push(inherited.has(fd) ? fd : "ignore");
  const child = spawn(argv[0] as string, argv.slice(1), {
    stdio,
    env: spawnEnv(argv[0] as string, env),
    argv0: argv[0],
  });
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
