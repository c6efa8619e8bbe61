// SPDX-License-Identifier: MIT
// qmail-getpw's user lookup (qmail-getpw(8); qmail-getpw.c).
import { byteStr, bytesOf } from "@qts/core/bytes";
import { errnoName, errorTemp } from "@qts/core/errstr";
import { statSync } from "@qts/sys/fs";
import { getpwnam, type Passwd } from "@qts/sys/pwd";
import { AUTO_BREAK, AUTO_USERA } from "../conf.ts";
import { lowerAscii } from "../cscan.ts";
import { QLX, type UserEntry, UsersError } from "./users.ts";

// GETPW_USERLEN: prefixes this long or longer are never tried.
const USERLEN = 32;

function entry(pw: Passwd, dash: string, ext: string): UserEntry {
  return { user: byteStr(pw.name), uid: pw.uid, gid: pw.gid, home: byteStr(pw.dir), dash, ext };
}

/** getpwnam(name) as userext tries it: undefined when not found, QLX.SYS on a temporary failure (ETXTBSY). */
function userNamed(name: string): Passwd | undefined {
  try {
    return getpwnam(bytesOf(lowerAscii(name)));
  } catch (e) {
    if (errnoName(e) === "ETXTBSY") throw new UsersError(QLX.SYS, "getpwnam failed");
    return undefined;
  }
}

/** The uid owning pw's home directory; undefined when stat fails for good, QLX.NFS when it fails temporarily. */
function homeOwner(pw: Passwd): number | undefined {
  try {
    return statSync(pw.dir).uid;
  } catch (e) {
    if (errorTemp(e)) throw new UsersError(QLX.NFS, `unable to stat ${pw.dir}`);
    return undefined;
  }
}

/**
 * The longest prefix of local, ending at its end or just before a "-", that
 * names (lowercased) a passwd user with a nonzero uid whose home directory
 * that uid owns; otherwise the alias user with dash "-" and the whole local
 * part as ext. Throws UsersError: QLX.NFS on a temporary stat error,
 * QLX.SYS on a temporary passwd failure, QLX.NOALIAS without an alias user.
 * local and the entry's strings are byte strings (core/bytes.ts), as C passes them.
 * The loop follows qmail-getpw.c's userext(), the fallback its main.
 */
export function getpwLookup(local: string, alias = AUTO_USERA): UserEntry {
  for (let end = local.length; end >= 0; end--) {
    if (end >= USERLEN || (end !== local.length && local[end] !== AUTO_BREAK)) continue;
    const pw = userNamed(local.slice(0, end));
    if (!pw || pw.uid === 0 || homeOwner(pw) !== pw.uid) continue;
    return end === local.length ? entry(pw, "", "") : entry(pw, "-", local.slice(end + 1));
  }
  let pw: Passwd | undefined;
  try {
    pw = getpwnam(alias);
  } catch {
    pw = undefined;
  }
  if (!pw) throw new UsersError(QLX.NOALIAS, "no alias user");
  return entry(pw, "-", local);
}

/** qmail-getpw's output: the six fields, each NUL-terminated. */
export function formatUser(u: UserEntry): Buffer {
  return Buffer.from(`${u.user}\0${u.uid}\0${u.gid}\0${u.home}\0${u.dash}\0${u.ext}\0`, "latin1");
}
