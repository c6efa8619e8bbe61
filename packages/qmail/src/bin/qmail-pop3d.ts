// SPDX-License-Identifier: MIT
// qmail-pop3d: the POP3 transaction state over a maildir (qmail-pop3d(8),
// qmail-pop3d.c), run by checkpassword as the user, in the user's home.
import { bytesOf } from "@qts/core/bytes";
import { errWrite, setProg, sigpipeIgnore } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { closeSync, openSync, readdirSync, readSync, renameSync, statSync, unlinkSync } from "@qts/sys/fs";
import { PopIn, PopOut, scanUlong, splitCommand } from "../lib/pop3/pop3.ts";

export const usage = "qmail-pop3d maildirname";

// qmail-pop3d.c's die(): the end of every session is exit 0.
const DIE = 0;

interface Msg {
  fn: string;
  size: number;
  deleted: boolean;
}

class Abort extends Error {}

/** maildir_clean(): tmp/ files last accessed more than 36 hours ago are removed. */
function maildirClean(): void {
  let names: string[];
  try {
    names = readdirSync("tmp", { encoding: "latin1" });
  } catch {
    return;
  }
  const now = Math.floor(Date.now() / 1000);
  for (const n of names) {
    if (n.startsWith(".")) continue;
    try {
      const fn = bytesOf(`tmp/${n}`);
      if (now > Math.floor(statSync(fn).atimeMs / 1000) + 129600) unlinkSync(fn);
    } catch {}
  }
}

/**
 * maildir_scan(new and cur): every file not starting with ".", whose mtime is
 * before the current second (a message still arriving this second waits for
 * the next session), oldest first. Throws Abort when a directory cannot be read.
 */
function maildirScan(): { fn: string; mtime: number }[] {
  const now = Math.floor(Date.now() / 1000);
  const found: { fn: string; mtime: number }[] = [];
  for (const sub of ["new", "cur"]) {
    let names: string[];
    try {
      names = readdirSync(sub, { encoding: "latin1" });
    } catch {
      throw new Abort();
    }
    for (const n of names) {
      if (n.startsWith(".")) continue;
      const fn = `${sub}/${n}`;
      try {
        const m = Math.floor(statSync(bytesOf(fn)).mtimeMs / 1000);
        if (m < now) found.push({ fn, mtime: m });
      } catch {}
    }
  }
  // prioq order: by mtime (Array.prototype.sort is stable, so new/ before cur/ within a second)
  return found.sort((a, b) => a.mtime - b.mtime);
}

class Pop3d {
  private last = 0;
  private readonly msgbuf = Buffer.allocUnsafe(65536);

  constructor(
    private readonly out: PopOut,
    private readonly m: Msg[],
  ) {}

  /** msgno(): the 0-based index of a live message named by arg's leading number, or -1 after the error. */
  private msgno(arg: Buffer): number {
    const { value, len } = scanUlong(arg);
    if (!len) return this.fail("syntax error");
    if (value === 0n) return this.fail("messages are counted from 1");
    const u = value - 1n;
    if (u >= BigInt(this.m.length)) return this.fail("not that many messages");
    const i = Number(u);
    if ((this.m[i] as Msg).deleted) return this.fail("already deleted");
    return i;
  }

  private fail(text: string): -1 {
    this.out.err(text);
    return -1;
  }

  /** One command; true when the session is over. */
  command(line: Buffer): boolean {
    const { verb, arg } = splitCommand(line);
    switch (verb) {
      case "quit":
        this.quit();
        return true;
      case "stat":
        return this.stat();
      case "list":
        return this.listing(arg, false);
      case "uidl":
        return this.listing(arg, true);
      case "dele": {
        const i = this.msgno(arg);
        if (i < 0) return false;
        (this.m[i] as Msg).deleted = true;
        if (i + 1 > this.last) this.last = i + 1;
        this.out.okay();
        return false;
      }
      case "retr":
      case "top":
        return this.top(arg);
      case "rset":
        for (const x of this.m) x.deleted = false;
        this.last = 0;
        this.out.okay();
        return false;
      case "last":
        this.out.put(`+OK ${this.last}\r\n`);
        this.out.flush();
        return false;
      case "noop":
        this.out.okay();
        return false;
      default:
        this.out.err("unimplemented");
        return false;
    }
  }

  /** pop3_stat: the count includes messages marked deleted, the size does not (as in the C). */
  private stat(): boolean {
    let total = 0;
    for (const x of this.m) if (!x.deleted) total += x.size;
    this.out.put(`+OK ${this.m.length} ${total}\r\n`);
    this.out.flush();
    return false;
  }

  private entry(i: number, uidl: boolean): void {
    const x = this.m[i] as Msg;
    if (!uidl) {
      this.out.put(`${i + 1} ${x.size}\r\n`);
      return;
    }
    // printfn(): the name after "new/" or "cur/", up to the ":" of the info
    const name = x.fn.slice(4);
    const colon = name.indexOf(":");
    this.out.put(`${i + 1} `);
    this.out.put(bytesOf(colon < 0 ? name : name.slice(0, colon)));
    this.out.put("\r\n");
  }

  private listing(arg: Buffer, uidl: boolean): boolean {
    if (arg.length) {
      const i = this.msgno(arg);
      if (i < 0) return false;
      this.out.put("+OK ");
      this.entry(i, uidl);
    } else {
      this.out.put("+OK \r\n");
      for (let i = 0; i < this.m.length; i++) if (!(this.m[i] as Msg).deleted) this.entry(i, uidl);
      this.out.put(".\r\n");
    }
    this.out.flush();
    return false;
  }

  /** pop3_top (RETR too): the message, or its header and the first N body lines. */
  private top(arg: Buffer): boolean {
    const i = this.msgno(arg);
    if (i < 0) return false;
    let at = scanUlong(arg).len;
    while (arg[at] === 32) at++;
    const n = scanUlong(arg, at);
    const limit = n.len ? BigInt.asUintN(64, n.value + 1n) : 0n;
    let fd: number;
    try {
      fd = openSync(bytesOf((this.m[i] as Msg).fn), "r");
    } catch {
      this.out.err("unable to open that message");
      return false;
    }
    this.out.okay();
    try {
      this.blast(fd, limit);
    } finally {
      closeSync(fd);
    }
    return false;
  }

  /**
   * blast(): each line (its "\n" dropped) sent with CRLF, a leading "." doubled;
   * with a limit, the header and limit-1 body lines; then an extra blank line
   * (qmail-pop3d(8): for broken clients) and ".". A read error ends the session.
   */
  private blast(fd: number, limitIn: bigint): void {
    let limit = limitIn;
    let inHeaders = true;
    let line: Buffer[] = [];
    let startOfLine = true;
    const endLine = (): boolean => {
      // called at a "\n": false when the limit says stop
      const l = Buffer.concat(line);
      line = [];
      if (limit && !inHeaders) {
        limit--;
        if (!limit) return false;
      }
      if (l.length === 0) inHeaders = false;
      else if (l[0] === 0x2e) this.out.put(".");
      this.out.put(l);
      this.out.put("\r\n");
      return true;
    };
    let go = true;
    while (go) {
      let n: number;
      try {
        n = readSync(fd, this.msgbuf, 0, this.msgbuf.length, null);
      } catch {
        throw new Abort();
      }
      if (n === 0) {
        // a last line without "\n" is sent like the others
        if (!startOfLine) endLine();
        break;
      }
      let s = 0;
      while (s < n) {
        const nl = this.msgbuf.indexOf(10, s);
        if (nl < 0 || nl >= n) {
          line.push(Buffer.from(this.msgbuf.subarray(s, n)));
          startOfLine = false;
          break;
        }
        line.push(Buffer.from(this.msgbuf.subarray(s, nl)));
        s = nl + 1;
        startOfLine = true;
        if (!endLine()) {
          go = false;
          break;
        }
      }
    }
    this.out.put("\r\n.\r\n");
    this.out.flush();
  }

  /** pop3_quit: unlink the deleted, move the rest of new/ to cur/ with ":2,"; "+OK " and the end. */
  private quit(): void {
    for (const x of this.m) {
      if (x.deleted) {
        try {
          unlinkSync(bytesOf(x.fn));
        } catch {
          this.out.err("unable to unlink all deleted messages");
        }
      } else if (x.fn.startsWith("new/")) {
        try {
          renameSync(bytesOf(x.fn), bytesOf(`cur/${x.fn.slice(4)}:2,`));
        } catch {
          // "if it fails, bummer"
        }
      }
    }
    this.out.okay();
  }
}

export function main(argv: string[], _env: Env): number {
  setProg("qmail-pop3d");
  sigpipeIgnore();
  // notqmail's qmail-pop3d refuses to serve as root
  if (process.getuid?.() === 0) {
    errWrite("qmail-pop3d invoked as uid 0, terminating\n");
    return 1;
  }
  const out = new PopOut(1, DIE);
  const dir = argv[0];
  try {
    if (dir === undefined) throw new Abort();
    process.chdir(dir);
  } catch {
    out.err("this user has no $HOME/Maildir");
    return DIE;
  }
  maildirClean();
  let list: { fn: string; mtime: number }[];
  try {
    list = maildirScan();
  } catch {
    out.err("unable to scan $HOME/Maildir");
    return DIE;
  }
  const msgs: Msg[] = list.map(({ fn }) => {
    let size = 0;
    try {
      size = statSync(bytesOf(fn)).size;
    } catch {}
    return { fn, size, deleted: false };
  });
  const pop = new Pop3d(out, msgs);
  const input = new PopIn(0, DIE);
  out.okay();
  for (;;) {
    let over: boolean;
    try {
      over = pop.command(input.line());
    } catch (e) {
      if (e instanceof Abort) return DIE;
      throw e;
    }
    if (over) return DIE;
  }
}
