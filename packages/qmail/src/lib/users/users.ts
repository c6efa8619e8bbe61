// SPDX-License-Identifier: MIT
// qmail-users: the users/cdb lookup qmail-lspawn does before falling back to
// qmail-getpw (qmail-users(5); qmail-lspawn.c nughde_get). Keys, as
// qmail-newu writes them: "!local\0" for a simple (=) entry, "!prefix" for a
// wildcard (+) entry, and "" holding the characters that may end a wildcard
// prefix. Values: user\0uid\0gid\0home\0dash\0ext.
import { Cdb } from "@qts/cdb/cdb";
import { errnoName } from "@qts/core/errstr";
import { join } from "@qts/core/path";
import { closeSync, openSync } from "@qts/sys/fs";
import { lowerAscii, scanUlong } from "../cscan.ts";

/** One user, as qmail-lspawn hands it to qmail-local (and qmail-getpw prints it). */
export interface UserEntry {
  user: string;
  uid: number;
  gid: number;
  home: string;
  dash: string;
  ext: string;
}

/** qmail-lspawn's exit codes (qlx.h) for lookup trouble. */
export const QLX = {
  USAGE: 112,
  ROOT: 113,
  NFS: 115,
  NOALIAS: 116,
  CDB: 117,
  SYS: 118,
  NOMEM: 119,
  EXECSOFT: 120,
  EXECPW: 121,
  EXECHARD: 126,
} as const;

/** Lookup trouble; qlx is the code qmail-lspawn's child exits with (117 = users/cdb unreadable). */
export class UsersError extends Error {
  constructor(
    readonly qlx: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Splits a users/cdb value (with any wildcard rest appended) into its six
 * fields, as qmail-lspawn's spawn() does; a value with fewer than five NULs
 * is qmail-lspawn's "Internal qmail-lspawn bug" (QLX_USAGE).
 */
export function parseUserValue(value: string): UserEntry {
  const f = value.split("\0");
  if (f.length < 6) throw new UsersError(QLX.USAGE, "users/cdb entry has too few fields");
  return {
    user: f[0] as string,
    uid: Number(scanUlong(f[1] as string)),
    gid: Number(scanUlong(f[2] as string)),
    home: f[3] as string,
    dash: f[4] as string,
    ext: f[5] as string,
  };
}

/**
 * Looks local (the address's local part, bytes as latin1) up in
 * <qmailHome>/users/cdb: the exact entry first, then wildcard prefixes from
 * the longest down to the empty one, trying a prefix only when it ends in one
 * of the wildcard characters. A wildcard match appends the rest of local (in
 * its original case) to the entry's ext. Returns "not found" when users/cdb
 * does not exist or has no match (the caller then runs qmail-getpw); throws
 * UsersError(QLX.CDB) when users/cdb cannot be read.
 */
export function usersLookup(qmailHome: string, local: string): UserEntry | "not found" {
  const lower = Buffer.from(`!${lowerAscii(local)}\0`, "latin1");
  const localBytes = Buffer.from(local, "latin1");
  let fd: number;
  try {
    fd = openSync(join(qmailHome, "users/cdb"), "r");
  } catch (e) {
    if (errnoName(e) === "ENOENT") return "not found";
    throw new UsersError(QLX.CDB, "unable to open users/cdb");
  }
  try {
    const cdb = Cdb.fromFd(fd);
    const wild = cdb.get("");
    if (wild === undefined) throw new UsersError(QLX.CDB, "users/cdb has no wildcard record");
    let flagwild = false;
    for (let i = lower.length; i > 0; i--) {
      if (!flagwild || i === 1 || wild.includes(lower[i - 1] as number)) {
        const v = cdb.get(lower.subarray(0, i));
        if (v !== undefined) {
          const data = flagwild ? Buffer.concat([v, localBytes.subarray(i - 1)]) : v;
          return parseUserValue(data.toString("latin1"));
        }
      }
      flagwild = true;
    }
    return "not found";
  } catch (e) {
    if (e instanceof UsersError) throw e;
    throw new UsersError(QLX.CDB, "unable to read users/cdb");
  } finally {
    closeSync(fd);
  }
}
