// SPDX-License-Identifier: MIT
// The queue as qmail-qread lists it (qmail-qread(8)): info/<split>/<id>
// in directory order, with mess/, local/, remote/ and bounce/ of each id.
import { closeSync, fstatSync, opendirSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { errnoName, errorStr } from "@qts/core/errstr";
import { AUTO_SPLIT } from "./conf.ts";
import { date822utc } from "./date822.ts";

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
      const id = BigInt.asUintN(64, BigInt(name)).toString();
      const split = Number(BigInt(id) % BigInt(AUTO_SPLIT));
      const err = (e: unknown) => {
        out += `warning: trouble with #${id}: ${errorStr(e)}\n`;
      };
      let size: number;
      try {
        size = statSync(`mess/${split}/${id}`).size;
      } catch (e) {
        err(e);
        continue;
      }
      let bouncing = false;
      try {
        statSync(`bounce/${id}`);
        bouncing = true;
      } catch {}
      let info: Buffer;
      let mtime: number;
      let fd: number;
      try {
        fd = openSync(`info/${split}/${id}`, "r");
      } catch (e) {
        err(e);
        continue;
      }
      try {
        info = readFd(fd);
        mtime = fstatSync(fd).mtimeMs;
      } catch (e) {
        closeSync(fd);
        err(e);
        continue;
      }
      closeSync(fd);
      const z = info.indexOf(0);
      const rec = info.toString("latin1", 0, z < 0 ? info.length : z);
      const sender = rec.slice(1);
      const date = date822utc(Math.floor(mtime / 1000) * 1000).slice(0, -6);
      out += `${safe(`${date} GMT  #${id}  ${size}  <${sender}> ${bouncing ? " bouncing" : ""}`)}\n`;
      for (const channel of ["local", "remote"]) {
        let data: Buffer;
        try {
          data = readFileSync(`${channel}/${split}/${id}`);
        } catch (e) {
          if (errnoName(e) !== "ENOENT") err(e);
          continue;
        }
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
      }
    }
  }
  return [out, false];
}
