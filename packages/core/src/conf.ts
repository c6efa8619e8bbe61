// SPDX-License-Identifier: MIT
// Settings shared by every suite, defined once (qmail's own build-time
// settings, its conf-* files, are in qmail/src/lib/conf.ts). Here because
// core, sys and daemontools all read or write them, and core is the one
// package below all three.

/**
 * Bun raises the soft RLIMIT_NOFILE to the hard limit at start-up; a chain
 * like `softlimit -o 20 tcpserver` must still hold the lower limit. sys's
 * exec passes the intended soft limit in this variable when it execs one of
 * ours, boot.ts puts it back and removes the variable, and no C program (nor
 * any environment a program prints or hands on) ever sees it.
 */
export const NOFILE_VAR = "QTS_NOFILE";
