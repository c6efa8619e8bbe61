// SPDX-License-Identifier: MIT
// qmail's users and groups (INSTALL.ids). C qmail compiles
// the numeric ids in at build time (auto_uids.c); ours are recorded at install
// in <home>/bin/.qmail-ids, the one override point: `make setup` writes the
// ids it found through NSS, or, for an install run by an ordinary user
// (`setup.ts --ids-user NAME`), maps every qmail user and group to NAME.
// Without the file the ids come from NSS (getpwnam/getgrnam) at run time.
import { errnoName } from "@qts/core/errstr";
import { join } from "@qts/core/path";
import { readFileSync } from "@qts/sys/fs";
import { getgrnam, getpwnam } from "@qts/sys/pwd";
import { qmailHome } from "./home.ts";

export const USERS = ["alias", "qmaild", "qmaill", "qmailp", "qmailq", "qmailr", "qmails"] as const;
export const GROUPS = ["qmail", "nofiles"] as const;
export type QmailUser = (typeof USERS)[number];
export type QmailGroup = (typeof GROUPS)[number];

/** The file beside the installed executable that pins the ids: lines `user NAME UID` and `group NAME GID`. */
export const IDS_FILE = ".qmail-ids";

/** Each user's login group, as INSTALL.ids creates them. */
export const USER_GROUP: Record<QmailUser, QmailGroup> = {
  alias: "nofiles",
  qmaild: "nofiles",
  qmaill: "nofiles",
  qmailp: "nofiles",
  qmailq: "qmail",
  qmailr: "qmail",
  qmails: "qmail",
};

export interface QmailIds {
  uid: Record<QmailUser, number>;
  gid: Record<QmailGroup, number>;
}

export class IdsError extends Error {}

/** Formats ids as the .qmail-ids file. */
export function formatIds(ids: QmailIds): string {
  let s = "";
  for (const u of USERS) s += `user ${u} ${ids.uid[u]}\n`;
  for (const g of GROUPS) s += `group ${g} ${ids.gid[g]}\n`;
  return s;
}

/** Parses a .qmail-ids text; names it does not list are left out. */
export function parseIds(text: string): { uid: Partial<QmailIds["uid"]>; gid: Partial<QmailIds["gid"]> } {
  const uid: Partial<QmailIds["uid"]> = {};
  const gid: Partial<QmailIds["gid"]> = {};
  for (const line of text.split("\n")) {
    const m = /^(user|group) (\S+) (\d{1,10})$/.exec(line.trim());
    if (!m) continue;
    const id = Number(m[3]);
    if (id > 0xffffffff) continue;
    if (m[1] === "user" && (USERS as readonly string[]).includes(m[2] as string)) uid[m[2] as QmailUser] = id;
    if (m[1] === "group" && (GROUPS as readonly string[]).includes(m[2] as string)) gid[m[2] as QmailGroup] = id;
  }
  return { uid, gid };
}

/** The ids through NSS only; throws IdsError naming the first missing user or group. */
export function nssIds(): QmailIds {
  const uid = {} as QmailIds["uid"];
  const gid = {} as QmailIds["gid"];
  for (const u of USERS) {
    const pw = getpwnam(u);
    if (!pw) throw new IdsError(`no such user: ${u}`);
    uid[u] = pw.uid;
  }
  for (const g of GROUPS) {
    const gr = getgrnam(g);
    if (!gr) throw new IdsError(`no such group: ${g}`);
    gid[g] = gr.gid;
  }
  return { uid, gid };
}

/** Every qmail user and group mapped to one uid and gid (an install run by an ordinary user). */
export function singleIds(uid: number, gid: number): QmailIds {
  const u = {} as QmailIds["uid"];
  const g = {} as QmailIds["gid"];
  for (const n of USERS) u[n] = uid;
  for (const n of GROUPS) g[n] = gid;
  return { uid: u, gid: g };
}

const cache = new Map<string, QmailIds>();

/**
 * The qmail ids for home: <home>/bin/.qmail-ids where it exists (names it
 * lacks come from NSS), else NSS. Throws IdsError when a user is unknown.
 */
export function qmailIds(home: string = qmailHome()): QmailIds {
  const hit = cache.get(home);
  if (hit) return hit;
  let text: string | undefined;
  try {
    text = readFileSync(join(home, "bin", IDS_FILE), "latin1");
  } catch (e) {
    if (errnoName(e) !== "ENOENT") throw e;
  }
  let ids: QmailIds;
  if (text === undefined) ids = nssIds();
  else {
    const p = parseIds(text);
    const uid = {} as QmailIds["uid"];
    const gid = {} as QmailIds["gid"];
    for (const u of USERS) {
      const v = p.uid[u] ?? getpwnam(u)?.uid;
      if (v === undefined) throw new IdsError(`no such user: ${u}`);
      uid[u] = v;
    }
    for (const g of GROUPS) {
      const v = p.gid[g] ?? getgrnam(g)?.gid;
      if (v === undefined) throw new IdsError(`no such group: ${g}`);
      gid[g] = v;
    }
    ids = { uid, gid };
  }
  cache.set(home, ids);
  return ids;
}

/** The login gid of a qmail user. */
export function userGid(ids: QmailIds, user: QmailUser): number {
  return ids.gid[USER_GROUP[user]];
}
