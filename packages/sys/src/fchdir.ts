// SPDX-License-Identifier: MIT
// No imports: svstat and svc load only this (chdir of a byte string is sys/chdir.ts, with bun:ffi).

/**
 * fchdir(fd): back to a directory opened earlier (svc and svstat return to their start dir this way).
 * Through the fd's /proc/self/fd link, which names the very directory the fd holds (renamed or not),
 * with the same permission check as fchdir(2): no libc binding, so no bun:ffi on this path.
 */
export function fchdir(fd: number): void {
  process.chdir(`/proc/self/fd/${fd}`);
}
