// SPDX-License-Identifier: MIT
import { dieUnable, errWrite, setProg, sigpipeIgnore, warnSys, warnUnable } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { EXIT_OK, EXIT_TEMP, EXIT_USAGE } from "@qts/core/exit";
import { getopt } from "@qts/core/getopt";
import type { Env } from "@qts/core/run";
import { fchdir } from "@qts/sys/fchdir";
import { closeSync, constants, openSync, writeSync } from "@qts/sys/fs";

type Exec = typeof import("@qts/sys/exec");

export const usage = "svc -opts dir ...";

const OPTIONS =
  "svc options: u up, d down, o once, x exit, p pause, c continue, h hup, a alarm, i interrupt, t term, k kill\n";

// svc(8): the letters, deduplicated in order, in one write per dir; always 0 past usage.
export function main(argv: string[], _env: Env): number {
  setProg("svc");
  sigpipeIgnore();
  const { opts, rest } = getopt(argv, "udopchaitkx");
  let data = "";
  for (const o of opts) {
    if (o.opt === "?") {
      errWrite(OPTIONS);
      return EXIT_USAGE;
    }
    if (data.length < 20 && !data.includes(o.opt)) data += o.opt;
  }
  let orig = -1;
  try {
    orig = openSync(".", constants.O_RDONLY);
  } catch (e) {
    dieUnable(EXIT_TEMP, "open current directory", e);
  }
  const bytes = Buffer.from(data);
  for (const dir of rest) {
    try {
      process.chdir(dir);
    } catch (e) {
      warnUnable(`chdir to ${dir}`, e);
      restore(orig);
      continue;
    }
    control(dir, bytes);
    restore(orig);
  }
  return EXIT_OK;
}

/** The commands to supervise/control in the current directory, dir's; failures are warnings. */
function control(dir: string, bytes: Buffer): void {
  let fd: number;
  try {
    fd = openSync("supervise/control", constants.O_WRONLY | constants.O_NONBLOCK);
  } catch (e) {
    if (errnoName(e) === "ENXIO") warnUnable(`control ${dir}: supervise not running`);
    else warnUnable(`control ${dir}`, e);
    return;
  }
  try {
    // ndelay_off(fd), as svc.c does. sys/exec (bun:ffi) is loaded here, only once a supervise listens.
    (require("@qts/sys/exec") as Exec).setBlocking(fd, true);
    const n = writeSync(fd, bytes);
    if (n < bytes.length) throw Object.assign(new Error("short"), { code: "EAGAIN" });
  } catch (e) {
    warnSys(e, "error writing commands to ", dir);
  }
  closeSync(fd);
}

function restore(fd: number): void {
  try {
    fchdir(fd);
  } catch (e) {
    dieUnable(EXIT_TEMP, "set directory", e);
  }
}
