// SPDX-License-Identifier: MIT
// The queue as qmail-qread lists it (qmail-qread(8)): info/<split>/<id>
// in directory order, with mess/, local/, remote/ and bounce/ of each id.
import { errnoName, errorStr } from "@qts/core/errstr";
import { closeSync, fstatSync, opendirSync, openSync, readFileSync, readSync, statSync } from "@qts/sys/fs";
import { AUTO_SPLIT } from "../conf.ts";
import { date822utc } from "../date822.ts";

/** Non-printable bytes (outside 32..126) shown as `_`. */
function safe(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, "_");
}

/** Names of a directory in readdir order, without . and .. (throws the opendir error). */
export function readdirRaw(dir: string): string[] {
  const d = opendirSync(dir);
  const out: string[] = [];
  try {
    for (let e = d.readSync(); e; e = d.readSync()) out.push(e.name);
  } finally {
    d.closeSync();
  }
  return out;
}

function readFd(fd: number): Buffer {
  const chunks: Buffer[] = [];
  const b = Buffer.allocUnsafe(65536);
  for (;;) {
    const n = readSync(fd, b, 0, b.length, null);
    if (!n) break;
    chunks.push(Buffer.from(b.subarray(0, n)));
  }
  return Buffer.concat(chunks);
}

/** err(id): the warning for a message that cannot be read. */
function trouble(id: string, e: unknown): string {
  return `warning: trouble with #${id}: ${errorStr(e)}\n`;
}

/** main's `!stat(fnbounce, &st)`: whether path can be stat'ed. */
function statOk(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The info file's first record (the sender's, up to its NUL, with its F) and its mtime; throws the failing step's error. */
function readInfo(path: string): { rec: string; mtime: number } {
  const fd = openSync(path, "r");
  try {
    const info = readFd(fd);
    const mtime = fstatSync(fd).mtimeMs;
    const z = info.indexOf(0);
    return { rec: info.toString("latin1", 0, z < 0 ? info.length : z), mtime };
  } finally {
    closeSync(fd);
  }
}

/** putstats (fmtstats): date, id, size, sender and " bouncing", unprintables as `_`. */
function statsLine(id: string, size: number, sender: string, mtime: number, bouncing: boolean): string {
  const date = date822utc(Math.floor(mtime / 1000) * 1000).slice(0, -6);
  return `${safe(`${date} GMT  #${id}  ${size}  <${sender}> ${bouncing ? " bouncing" : ""}`)}\n`;
}

/** main's loop over one channel's records: a D record is a done recipient, a T record one to do. */
function channelLines(channel: string, data: Buffer): string {
  let out = "";
  let at = 0;
  for (;;) {
    const end = data.indexOf(0, at);
    if (end < 0) break;
    const kind = data[at];
    const addr = data.toString("latin1", at + 1, end);
    at = end + 1;
    if (kind === 0x44) out += `  done\t${channel}\t${safe(addr)}\n`;
    else if (kind === 0x54) out += `\t${channel}\t${safe(addr)}\n`;
  }
  return out;
}

/** One channel (local/ or remote/) of message id: its lines; nothing when the file is missing, a warning when unreadable. */
function channelFile(channel: string, split: number, id: string): string {
  let data: Buffer;
  try {
    data = readFileSync(`${channel}/${split}/${id}`);
  } catch (e) {
    return errnoName(e) !== "ENOENT" ? trouble(id, e) : "";
  }
  return channelLines(channel, data);
}

/** main's loop body for message id: its stats line and recipients, or a warning when mess/ or info/ fails. */
function qreadMessage(id: string): string {
  const split = Number(BigInt(id) % BigInt(AUTO_SPLIT));
  let out: string;
  try {
    const size = statSync(`mess/${split}/${id}`).size;
    const bouncing = statOk(`bounce/${id}`);
    const { rec, mtime } = readInfo(`info/${split}/${id}`);
    out = statsLine(id, size, rec.slice(1), mtime, bouncing);
  } catch (e) {
    return trouble(id, e);
  }
  for (const channel of ["local", "remote"]) out += channelFile(channel, split, id);
  return out;
}

/**
 * qmail-qread's output for the queue in the current directory (queue/).
 * Returns [text, fatal]: fatal is true when it stopped at an opendir failure.
 */
export function qread(): [string, boolean] {
  let out = "";
  for (let pos = 0; pos < AUTO_SPLIT; pos++) {
    let names: string[];
    try {
      names = readdirRaw(`info/${pos}`);
    } catch (e) {
      // readsubdir retries opendir forever through die_opendir, which exits
      return [`${out}fatal: unable to opendir info/${pos}: ${errorStr(e)}\n`, true];
    }
    for (const name of names) {
      if (!/^\d+$/.test(name)) continue;
      out += qreadMessage(BigInt.asUintN(64, BigInt(name)).toString());
    }
  }
  return [out, false];
}
