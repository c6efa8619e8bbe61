// SPDX-License-Identifier: MIT
import { O_CLOEXEC, O_TMPFILE, O_WRONLY } from "./consts.ts";
import { check, cstr, libc } from "./ffi.ts";
import { openSync } from "./fs.ts";

const AT_FDCWD = -100;
const AT_SYMLINK_FOLLOW = 0x400;

const c = libc({ linkat: { args: ["i32", "ptr", "i32", "ptr", "i32"], returns: "i32" } });

/**
 * open(dir, O_TMPFILE|O_WRONLY, mode): a file in dir's filesystem that has no
 * name yet, so it vanishes with its last descriptor, however the process ends.
 * Throws (code EOPNOTSUPP, EISDIR or EINVAL) where the filesystem or kernel
 * has no O_TMPFILE.
 */
export function openTmpfile(dir: string, mode: number): number {
  return openSync(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
}

/**
 * Gives the file open on fd the name path, as linkat(2) documents for
 * O_TMPFILE files: through /proc/self/fd with AT_SYMLINK_FOLLOW, which needs
 * no privilege. Throws SysError (EEXIST when path exists).
 */
export function linkFd(fd: number, path: string): void {
  check("linkat", c().linkat(AT_FDCWD, cstr(`/proc/self/fd/${fd}`), AT_FDCWD, cstr(path), AT_SYMLINK_FOLLOW));
}
