// SPDX-License-Identifier: MIT
import { dieUnable, setProg, unable, writeAll } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { EXIT_OK, EXIT_TEMP } from "@qts/core/exit";
import type { Env } from "@qts/core/run";
import { fchdir } from "@qts/sys/fchdir";
import { closeSync, constants, openSync, readSync, statSync } from "@qts/sys/fs";
import { now } from "@qts/tai64/tai64";
import { notificationFd, readReady } from "../lib/readiness.ts";
import { decodeStatus, STATUS_SIZE, statusText } from "../lib/status.ts";

export const usage = "svstat dir ...";

// svstat(8): one line per dir, always 0 (111 only for the cwd).
export function main(argv: string[], _env: Env): number {
  setProg("svstat");
  let orig = -1;
  try {
    orig = openSync(".", constants.O_RDONLY);
  } catch (e) {
    dieUnable(EXIT_TEMP, "open current directory", e);
  }
  let out = "";
  for (const dir of argv) {
    out += `${dir}: ${show(dir)}\n`;
    try {
      fchdir(orig);
    } catch (e) {
      dieUnable(EXIT_TEMP, "set directory", e);
    }
  }
  if (out) writeAll(1, out);
  return EXIT_OK;
}

function show(dir: string): string {
  try {
    process.chdir(dir);
  } catch (e) {
    return unable("chdir", e);
  }
  let normallyUp = false;
  try {
    statSync("down");
  } catch (e) {
    if (errnoName(e) !== "ENOENT") return unable("stat down", e);
    normallyUp = true;
  }
  try {
    closeSync(openSync("supervise/ok", constants.O_WRONLY | constants.O_NONBLOCK));
  } catch (e) {
    if (errnoName(e) === "ENXIO") return "supervise not running";
    return unable("open supervise/ok", e);
  }
  let fd: number;
  try {
    fd = openSync("supervise/status", constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    return unable("open supervise/status", e);
  }
  const buf = new Uint8Array(STATUS_SIZE);
  let r: number;
  try {
    r = readSync(fd, buf, 0, STATUS_SIZE, null);
  } catch (e) {
    closeSync(fd);
    return unable("read supervise/status", e);
  }
  closeSync(fd);
  if (r < STATUS_SIZE) return unable("read supervise/status: bad format");
  const s = decodeStatus(buf);
  return statusText(s, normallyUp) + readyText(s.pid);
}

/**
 * Readiness, after the original's text so that scripts reading its prefix keep working: only for a
 * service with a notification-fd (supervise(8)): ", ready N seconds" (since it became ready) or
 * ", not ready yet".
 */
function readyText(pid: number): string {
  if (!pid || typeof notificationFd() !== "number") return "";
  const r = readReady();
  if (!r || r.pid !== pid) return ", not ready yet";
  const at = now();
  return `, ready ${at.sec > r.when.sec ? at.sec - r.when.sec : 0} seconds`;
}
