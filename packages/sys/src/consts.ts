// SPDX-License-Identifier: MIT
// Linux's numbers for open(2) flags and signals, defined once (C gets them
// from <fcntl.h> and <signal.h>). node:fs's constants lack O_CLOEXEC and
// O_TMPFILE, and Bun's process.kill takes names, while libc calls through
// bun:ffi need numbers. Plain numbers only: importing this loads no libc.

// open(2) flags. Most are the same on every Linux architecture; O_DIRECTORY
// and O_NOFOLLOW differ on arm64 (asm-generic/fcntl.h against arm64's own).
const ARM64 = process.arch === "arm64";
export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NONBLOCK = 0o4000;
export const O_DIRECTORY = ARM64 ? 0o40000 : 0o200000;
export const O_NOFOLLOW = ARM64 ? 0o100000 : 0o400000;
export const O_CLOEXEC = 0o2000000;
/** O_TMPFILE as open(2) documents it: __O_TMPFILE together with the O_DIRECTORY bit. */
export const O_TMPFILE = 0o20000000 | O_DIRECTORY;

// Signal numbers, signal(7); the same on x86_64 and arm64.
export const SIGPIPE = 13;
export const SIGTERM = 15;
export const SIGCHLD = 17;
export const SIGXFSZ = 25;

/**
 * The signals a child gets back at SIG_DFL (posix_spawn's setsigdefault
 * set), so the program started sees what a C parent's fork+exec hands it:
 * - SIGPIPE and SIGXFSZ: Bun ignores both at start-up, and an ignored
 *   disposition survives execve (the C originals leave them at default,
 *   except where they call sig_pipeignore themselves).
 * - 32 and 33: glibc's NPTL reserves them (SIGCANCEL, SIGSETXID). glibc's
 *   posix_spawn sets them to SIG_IGN in the child unless they are in this
 *   set (spawni.c), and GNU make leaves them ignored for its recipes; an
 *   ignored disposition would reach every program down the chain.
 *   sigaction() refuses them, hence sigdefault.ts's raw system call.
 */
export const CHILD_SIGDEFAULT: readonly number[] = [SIGPIPE, SIGXFSZ, 32, 33];
