// SPDX-License-Identifier: MIT
// qmail's build-time settings, defined once. netqmail keeps each in a conf-*
// file that the build turns into auto_*.c (auto_split.c, auto_break.c, ...);
// the programs include auto_*.h, and qmail-showctl prints the same values.
// Here they are constants named after those auto_* variables, and every
// program, qmail-showctl included, imports them from this file.
//
// They live in qmail's library because only qmail's programs use them. The
// one setting shared with daemontools and ucspi-tcp, the variable that
// relays RLIMIT_NOFILE to our own programs, is in core (core/src/conf.ts).
// The users and groups (conf-users, conf-groups) are in ids.ts, which also
// reads their ids.

/** conf-qmail: the qmail home when the executable was not installed by `make setup` (home.ts). */
export const AUTO_QMAIL = "/var/qmail";

/** conf-split: the queue's hashed subdirectories (mess/, info/, local/, remote/) are split into this many. */
export const AUTO_SPLIT = 23;

/** conf-break: the character that separates a user name from its extension (qmail-getpw, qmail-pw2u). */
export const AUTO_BREAK = "-";

/** conf-patrn: mode bits that make qmail-local refuse a home directory or .qmail file (netqmail: 002). */
export const AUTO_PATRN = 0o002;

/** conf-spawn: the most deliveries one spawner runs at once (sent to qmail-send as one byte). */
export const AUTO_SPAWN = 120;

/** The first line of conf-users: the alias user, who receives every address that matches no user. */
export const AUTO_USERA = "alias";
