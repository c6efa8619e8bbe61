// SPDX-License-Identifier: MIT
import { check, libc } from "./ffi.ts";

const c = libc({ listen: { args: ["i32", "i32"], returns: "i32" } });

/** listen(fd, backlog); on a socket that already listens, Linux just sets the new backlog. */
export function listen(fd: number, backlog: number): void {
  check("listen", c().listen(fd, backlog));
}
