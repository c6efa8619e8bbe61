// SPDX-License-Identifier: MIT
import { check, libc } from "./ffi.ts";

const c = libc({
  setsid: { args: [], returns: "i32" },
  setpgid: { args: ["i32", "i32"], returns: "i32" },
  getpgrp: { args: [], returns: "i32" },
  getsid: { args: ["i32"], returns: "i32" },
});

/** setsid(): a new session and process group; returns the session id. */
export function setsid(): number {
  return check("setsid", c().setsid());
}

/** setpgid(pid, pgid), as pgrphack's setsid fallback and supervise's children use. */
export function setpgid(pid: number, pgid: number): void {
  check("setpgid", c().setpgid(pid, pgid));
}

export function getpgrp(): number {
  return c().getpgrp();
}

export function getsid(pid: number): number {
  return check("getsid", c().getsid(pid));
}
