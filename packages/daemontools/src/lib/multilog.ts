// SPDX-License-Identifier: MIT
// multilog's engine: script, log directories, rotation (multilog(8)).
//
// Output is byte-identical to the C program's: its 512-byte per-directory
// buffer, its 1024-byte input reads and the c_write cut rule decide where a
// file ends, so they are simulated with counters while the bytes themselves
// go out in big batched writes.
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { byteStr, bytesOf, envBytes, rawEnv } from "@qts/core/bytes";
import { checkPipe, dieSys, errWrite, warn, warnSys, writeAll } from "@qts/core/die";
import { errorStr } from "@qts/core/errstr";
import { EXIT_TEMP } from "@qts/core/exit";
import { inheritedFds, inheritFd } from "@qts/sys/exec";
import { lockExNb } from "@qts/sys/flock";
import { waitReadable } from "@qts/sys/poll";
import { spawn } from "@qts/sys/posixspawn";
import { exitCode, termSig, waitStatus } from "@qts/sys/waitpid";
import { syncClock, writeStamp } from "./stamp.ts";

const O_APPEND = constants.O_WRONLY | constants.O_NONBLOCK | constants.O_APPEND | constants.O_CREAT;
const O_TRUNC = constants.O_WRONLY | constants.O_NONBLOCK | constants.O_TRUNC | constants.O_CREAT;
const O_WRITE = constants.O_WRONLY | constants.O_NONBLOCK;

const BUFSIZE = 512; // struct cyclog's buffer
const OUTSIZE = 8192; // SUBSTDIO_OUTSIZE: chunk of a direct write in substdio_put
const INSIZE = 1024; // multilog's input buffer: it flushes before each read
const LINE = 1000;
const PHYS = 1 << 20; // batch of real writes
const READ = 128 * INSIZE;

/** Seconds of each "pausing" sleep; 5 as the original. */
export let pauseSeconds = 5;
export function setPauseSeconds(s: number): void {
  pauseSeconds = s;
}

function pause(err: unknown, ...parts: string[]): void {
  warnSys(err, ...parts, ", pausing");
  Bun.sleepSync(pauseSeconds * 1000);
}

function code(e: unknown): string {
  return (e as { code?: string }).code ?? "";
}

/** Retries op until it works, pausing with the message after each failure. */
function retry<T>(op: () => T, ...parts: string[]): T {
  for (;;) {
    try {
      return op();
    } catch (e) {
      pause(e, ...parts);
    }
  }
}

/** multilog's pattern match: whole line, "*" skips to the first occurrence of the next byte, no backtracking. */
export function match(pat: Uint8Array, line: Uint8Array, len: number): boolean {
  let i = 0;
  let j = 0;
  for (;;) {
    if (i === pat.length) return j === len;
    const ch = pat[i++];
    if (ch === 42) {
      if (i === pat.length) return true;
      const next = pat[i];
      for (;;) {
        if (j === len) return false;
        if (line[j] === next) break;
        j++;
      }
      continue;
    }
    if (j === len || line[j] !== ch) return false;
    j++;
  }
}

function stampName(code: string): string {
  const b = Buffer.alloc(25);
  writeStamp(b, 0);
  return `${b.toString("latin1")}.${code}`;
}

/** The fds multilog was started with beyond 0-2, taken before it opens any of its own. */
let inherited = new Set<number>();
// Reset in the processor: Bun ignores SIGPIPE and SIGXFSZ; glibc's posix_spawn would leave 32 and 33 ignored.
const SIG_DEFAULT = [13, 25, 32, 33];

class LogDir {
  fd = -1;
  bytes = 0;
  /** Bytes not yet really written: [0, cw) handed to c_write, [cw, end) in the simulated buffer and beyond. */
  out = Buffer.allocUnsafe(PHYS * 2);
  cw = 0;
  end = 0;
  /** Fill of the simulated 512-byte buffer. */
  p = 0;
  selected = false;

  constructor(
    readonly dir: string,
    readonly size: number,
    readonly num: number,
    readonly processor: string | undefined,
    /** The directory's name and the processor as given, byte for byte (core/bytes.ts); dir is for messages. */
    readonly raw: Buffer = Buffer.from(dir),
    readonly rawProcessor: Buffer | undefined = processor === undefined ? undefined : Buffer.from(processor),
  ) {}

  path(f: string): Buffer {
    return Buffer.concat([this.raw, Buffer.from(`/${f}`)]);
  }

  /** restart(): lock, recover from an unclean stop, open current (spec §3.3). Errors are fatal. */
  start(): void {
    const d = this.dir;
    try {
      mkdirSync(this.raw, 0o700);
    } catch {}
    try {
      closeSync(openSync(this.raw, constants.O_RDONLY | constants.O_DIRECTORY));
    } catch (e) {
      dieSys(EXIT_TEMP, e, "unable to open directory ", d);
    }
    try {
      lockExNb(openSync(this.path("lock"), O_APPEND, 0o600));
    } catch (e) {
      dieSys(EXIT_TEMP, e, "unable to lock directory ", d);
    }
    let st: ReturnType<typeof statSync> | undefined;
    try {
      st = statSync(this.path("current"));
    } catch (e) {
      if (code(e) !== "ENOENT") dieSys(EXIT_TEMP, e, "unable to stat ", d, "/current");
    }
    if (st && Number(st.mode) & 0o100) {
      try {
        this.fd = openSync(this.path("current"), O_APPEND, 0o600);
      } catch (e) {
        dieSys(EXIT_TEMP, e, "unable to append to ", d, "/current");
      }
      try {
        fchmodSync(this.fd, 0o644);
      } catch (e) {
        dieSys(EXIT_TEMP, e, "unable to set mode of ", d, "/current");
      }
      this.bytes = Number(st.size);
      return;
    }
    for (const f of ["state", "newstate"])
      try {
        unlinkSync(this.path(f));
      } catch {}
    let processed = false;
    try {
      processed = (Number(statSync(this.path("processed")).mode) & 0o100) !== 0;
    } catch (e) {
      if (code(e) !== "ENOENT") dieSys(EXIT_TEMP, e, "unable to stat ", d, "/processed");
    }
    if (processed) {
      try {
        unlinkSync(this.path("previous"));
      } catch {}
      this.finish("processed", "s");
    } else {
      try {
        unlinkSync(this.path("processed"));
      } catch {}
      this.finish("previous", "u");
    }
    this.finish("current", "u");
    try {
      closeSync(openSync(this.path("state"), O_TRUNC, 0o644));
    } catch (e) {
      dieSys(EXIT_TEMP, e, "unable to write to ", d, "/state");
    }
    try {
      this.fd = openSync(this.path("current"), O_APPEND, 0o600);
      fchmodSync(this.fd, 0o644);
    } catch (e) {
      dieSys(EXIT_TEMP, e, "unable to write to ", d, "/current");
    }
    this.bytes = 0;
  }

  /** finish(): archive file as @stamp.code, then keep at most num-1 archives. */
  finish(file: string, kind: string): void {
    const d = this.dir;
    let st: ReturnType<typeof statSync>;
    for (;;) {
      try {
        st = statSync(this.path(file));
        break;
      } catch (e) {
        if (code(e) === "ENOENT") return;
        pause(e, "unable to stat ", d, "/", file);
      }
    }
    if (st.nlink === 1)
      for (;;) {
        const fn = stampName(kind);
        try {
          linkSync(this.path(file), this.path(fn));
          break;
        } catch (e) {
          pause(e, "unable to link to ", d, "/", fn);
        }
      }
    retry(() => unlinkSync(this.path(file)), "unable to remove ", d, "/", file);
    for (;;) {
      const names = retry(() => readdirSync(this.raw, "utf8"), "unable to read ", d);
      let oldest = "@z";
      let count = 0;
      for (const n of names)
        if (n.startsWith("@") && Buffer.byteLength(n) >= 25) {
          count++;
          if (n < oldest) oldest = n.slice(0, 25);
        }
      if (count < this.num) break;
      const again = retry(() => readdirSync(this.raw, "utf8"), "unable to read ", d);
      for (const n of again)
        if (n.startsWith("@") && Buffer.byteLength(n) >= 25 && n.startsWith(oldest)) {
          retry(() => unlinkSync(this.path(n)), "unable to remove ", d, "/", n);
          break;
        }
    }
  }

  /** Really writes what c_write has accepted so far. */
  writeOut(): void {
    let off = 0;
    while (off < this.cw) {
      try {
        off += writeSync(this.fd, this.out, off, this.cw - off);
      } catch (e) {
        pause(e, "unable to write to ", this.dir, "/current");
      }
    }
    if (this.cw > 0) {
      this.out.copy(this.out, 0, this.cw, this.end);
      this.end -= this.cw;
      this.cw = 0;
    }
  }

  /** fullcurrent(): rotate (spec §3.4). */
  full(): void {
    const d = this.dir;
    this.writeOut();
    retry(() => fsyncSync(this.fd), "unable to write ", d, "/current to disk");
    closeSync(this.fd);
    retry(
      () => renameSync(this.path("current"), this.path("previous")),
      "unable to rename current to previous in directory ",
      d,
    );
    this.fd = retry(() => openSync(this.path("current"), O_APPEND, 0o600), "unable to create ", d, "/current");
    this.bytes = 0;
    retry(() => fchmodSync(this.fd, 0o644), "unable to set mode of ", d, "/current");
    retry(() => chmodSync(this.path("previous"), 0o744), "unable to set mode of ", d, "/previous");
    if (this.processor === undefined) {
      this.finish("previous", "s");
      return;
    }
    for (;;) {
      const r = this.runProcessor();
      if (r === "ok") break;
      if (r === "nofork") continue;
      // A crash pauses, then falls through to the failure warning and a second pause, as in C (whose
      // crash line carries a stale errno; ours has none to show).
      if (r === "crashed") {
        warn("processor crashed in ", d, ", pausing: ", "no error");
        Bun.sleepSync(pauseSeconds * 1000);
      }
      warn("processor failed in ", d, ", pausing");
      Bun.sleepSync(pauseSeconds * 1000);
    }
    const fd = retry(() => openSync(this.path("processed"), O_APPEND, 0o600), "unable to create ", d, "/processed");
    retry(() => fsyncSync(fd), "unable to write ", d, "/processed to disk");
    retry(() => fchmodSync(fd, 0o744), "unable to set mode of ", d, "/processed");
    closeSync(fd);
    const ns = retry(() => openSync(this.path("newstate"), O_APPEND, 0o600), "unable to create ", d, "/newstate");
    retry(() => fsyncSync(ns), "unable to write ", d, "/newstate to disk");
    closeSync(ns);
    retry(() => unlinkSync(this.path("previous")), "unable to remove ", d, "/previous");
    retry(
      () => renameSync(this.path("newstate"), this.path("state")),
      "unable to rename newstate to state in directory ",
      d,
    );
    this.finish("processed", "s");
  }

  /** The processor as sh -c, fd 0 previous, 1 processed, 4 state, 5 newstate. */
  private runProcessor(): "ok" | "failed" | "crashed" | "nofork" {
    const fds: number[] = [];
    try {
      try {
        fds.push(openSync(this.path("previous"), constants.O_RDONLY | constants.O_NONBLOCK));
        fds.push(openSync(this.path("processed"), O_TRUNC, 0o644));
        fds.push(openSync(this.path("state"), constants.O_RDONLY | constants.O_NONBLOCK));
        fds.push(openSync(this.path("newstate"), O_TRUNC, 0o644));
      } catch (e) {
        // What the original's child says before exiting 111.
        errWrite(`multilog: fatal: unable to run ${this.processor}: ${errorStr(e)}\n`);
        return "failed";
      }
      const [a, b, c, e] = fds as [number, number, number, number];
      // fds multilog inherited reach the processor too, at their numbers, as after C's vfork (all
      // others are close-on-exec). The original runs it from inside the log directory; posix_spawn
      // takes the script and the directory as bytes.
      for (const fd of inherited) if (fd === 3 || fd > 5) inheritFd(fd);
      let st: number;
      try {
        const pid = spawn("/bin/sh", ["sh", "-c", this.rawProcessor as Buffer], [...envBytes(rawEnv(process.env))], {
          dup2: [
            [0, a],
            [1, b],
            [4, c],
            [5, e],
          ],
          cwd: this.raw,
          sigDefault: SIG_DEFAULT,
        });
        st = waitStatus(pid);
      } catch (err) {
        pause(err, "unable to fork for processor in ", this.dir);
        return "nofork";
      }
      if (termSig(st) !== 0) return "crashed";
      return exitCode(st) === 0 ? "ok" : "failed";
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  }

  /** c_write(): accepts up to len buffered bytes; may cut at a newline and rotate. */
  cWrite(len: number): number {
    if (this.bytes >= this.size) this.full();
    if (this.bytes + len >= this.size) len = this.size - this.bytes;
    if (this.bytes + len >= this.size - 2000) {
      const nl = this.out.lastIndexOf(10, this.cw + len - 1);
      if (nl >= this.cw) len = nl - this.cw + 1;
    }
    this.cw += len;
    this.bytes += len;
    if (this.bytes >= this.size - 2000 && this.out[this.cw - 1] === 10) this.full();
    else if (this.cw >= PHYS) this.writeOut();
    return len;
  }

  /** substdio_flush */
  flush(): void {
    while (this.p > 0) this.p -= this.cWrite(this.p);
  }

  /** substdio_put of the len bytes just appended. */
  put(len: number): void {
    if (len > BUFSIZE - this.p) {
      this.flush();
      while (len > BUFSIZE) {
        let c = Math.min(OUTSIZE, len);
        len -= c;
        while (c > 0) c -= this.cWrite(c);
      }
    }
    this.p += len;
  }

  /** len single-byte substdio_put calls (a long line's tail). */
  putBytes(len: number): void {
    while (len > 0) {
      if (this.p === BUFSIZE) this.flush();
      const k = Math.min(len, BUFSIZE - this.p);
      this.p += k;
      len -= k;
    }
  }

  /** Room for n more bytes at end. */
  room(n: number): void {
    if (this.end + n <= this.out.length) return;
    this.writeOut();
    if (this.end + n > this.out.length) {
      const b = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.end + n));
      this.out.copy(b, 0, 0, this.end);
      this.out = b;
    }
  }

  /** c_quit for this directory: flush, fsync, mark complete. */
  quit(): void {
    this.flush();
    this.writeOut();
    retry(() => fsyncSync(this.fd), "unable to write ", this.dir, "/current to disk");
    retry(() => fchmodSync(this.fd, 0o744), "unable to set mode of ", this.dir, "/current");
  }
}

type Item =
  | { k: "+" | "-"; pat: Buffer }
  | { k: "e" }
  | { k: "1"; prefix: Buffer }
  | { k: "="; name: string; fd: number }
  | { k: "d"; dir: LogDir };

export class Multilog {
  private items: Item[] = [];
  private dirs: LogDir[] = [];
  private stamp: boolean;
  /** Whether any item looks at the line (so it must sit in one buffer). */
  private looks = false;
  private line = Buffer.alloc(LINE + 1);
  private linelen = 0;
  /** Reading a line's first 1000 bytes (linelen counts them, stamp included). */
  private inLine = false;
  /** Streaming the rest of a line over 1000 bytes. */
  private inLong = false;
  private lastNl = true;
  /** Absolute input offset of the next simulated 1024-byte read. */
  private vb = 0;
  private pos = 0;
  private term = false;
  private alarm = false;

  /** script as text (for messages) and, in raw, the same arguments as byte strings (core/bytes.ts). */
  constructor(script: string[], raw: string[] = script.map(byteStr)) {
    // Caught from the start, as the original: a TERM during start-up ends it cleanly after.
    process.on("SIGTERM", () => {
      this.term = true;
    });
    process.on("SIGALRM", () => {
      this.alarm = true;
    });
    inherited = new Set(inheritedFds());
    this.stamp = script[0]?.[0] === "t";
    // f_init: status files first, all of them, fatal errors.
    const status = new Map<number, number>();
    script.forEach((s, i) => {
      if (s[0] !== "=") return;
      const name = s.slice(1);
      const path = bytesOf((raw[i] as string).slice(1));
      try {
        closeSync(openSync(path, O_APPEND, 0o600));
      } catch (e) {
        dieSys(EXIT_TEMP, e, "unable to create ", name);
      }
      try {
        status.set(i, openSync(path, O_WRITE));
      } catch (e) {
        dieSys(EXIT_TEMP, e, "unable to write ", name);
      }
    });
    // c_init: sNUM, nNUM and !processor apply to the directories after them.
    let size = 99999;
    let num = 10;
    let processor: string | undefined;
    let rawProcessor: Buffer | undefined;
    script.forEach((s, i) => {
      const c = s[0];
      if (c === "s") size = Math.min(16777215, Math.max(4096, scanUlong(s.slice(1))));
      else if (c === "n") num = Math.max(2, scanUlong(s.slice(1)));
      else if (c === "!") {
        processor = s.slice(1);
        rawProcessor = bytesOf((raw[i] as string).slice(1));
      } else if (c === "." || c === "/") {
        const d = new LogDir(s, size, num, processor, bytesOf(raw[i] as string), rawProcessor);
        d.start();
        this.dirs.push(d);
        this.items.push({ k: "d", dir: d });
      } else if (c === "+" || c === "-") {
        // Patterns match the line's bytes: the argument's own bytes, not its UTF-8 re-encoding.
        this.items.push({ k: c, pat: bytesOf((raw[i] as string).slice(1)) });
        this.looks = true;
      } else if (c === "e") {
        this.items.push({ k: "e" });
        this.looks = true;
      } else if (c === "1") {
        // Ours (s6-log's "1"): each selected line to standard output, after the rest of the item
        // (a prefix such as "smtpd: "), for a console that a container's log collector reads. The
        // original multilog ignores items it does not know.
        this.items.push({ k: "1", prefix: bytesOf((raw[i] as string).slice(1)) });
        this.looks = true;
      } else if (c === "=") {
        this.items.push({ k: "=", name: s.slice(1), fd: status.get(i) as number });
        this.looks = true;
      }
    });
    // Without patterns every line goes to every directory.
    for (const d of this.dirs) d.selected = true;
  }

  /** Reads fd 0 to the end (or SIGTERM at a line boundary), then c_quit. */
  async run(): Promise<void> {
    const buf = Buffer.allocUnsafe(READ);
    let yieldAt = Date.now() + 50;
    for (;;) {
      // flushread(): flush every buffer, rotate on SIGALRM, stop on SIGTERM at a line boundary.
      this.flushAll();
      if (this.alarm) {
        this.alarm = false;
        for (const d of this.dirs) if (d.bytes > 0) d.full();
      }
      for (const d of this.dirs) d.writeOut();
      if (this.term && this.lastNl) break;
      const want = this.term ? 1 : READ;
      let n: number;
      try {
        if (!waitReadable(0, 1000)) {
          await new Promise((ok) => setImmediate(ok));
          continue;
        }
        n = readSync(0, buf, 0, want, null);
      } catch (e) {
        const c = code(e);
        if (c === "EAGAIN" || c === "EINTR") {
          await new Promise((ok) => setImmediate(ok));
          continue;
        }
        break; // the original treats a read error as the end of input
      }
      if (n <= 0) break;
      syncClock();
      this.lastNl = buf[n - 1] === 10;
      this.vb = this.pos + (this.term ? 1 : INSIZE);
      this.chunk(buf.subarray(0, n), n);
      this.pos += n;
      if (Date.now() >= yieldAt) {
        await new Promise((ok) => setImmediate(ok));
        yieldAt = Date.now() + 50;
      }
    }
    this.eof();
    for (const d of this.dirs) d.quit();
  }

  private flushAll(): void {
    for (const d of this.dirs) d.flush();
  }

  /** Simulated input reads up to absolute offset e (the byte at e has been read). */
  private reach(e: number): void {
    while (this.vb <= e) {
      this.flushAll();
      this.vb += INSIZE;
    }
  }

  private chunk(buf: Buffer, n: number): void {
    let i = 0;
    const base = this.pos;
    while (i < n) {
      if (this.inLong) {
        const nl = buf.indexOf(10, i);
        const stop = nl < 0 || nl >= n ? n : nl;
        this.tail(buf, i, stop, base);
        if (stop === n) return;
        this.reach(base + nl);
        this.newline();
        this.inLong = false;
        i = nl + 1;
        continue;
      }
      if (!this.inLine) {
        this.inLine = true;
        this.linelen = 0;
        if (this.stamp) {
          writeStamp(this.line, 0);
          this.line[25] = 32;
          this.linelen = 26;
        }
      }
      const limit = LINE - this.linelen;
      let nl = buf.indexOf(10, i);
      if (nl >= n) nl = -1;
      if (nl >= 0 && nl - i < limit) {
        // A whole line: straight from buf when nothing needs it in one piece.
        const start = this.linelen;
        if (start === (this.stamp ? 26 : 0) && !this.looks) {
          this.reach(base + nl);
          this.emitDirect(buf, i, nl - i);
        } else {
          buf.copy(this.line, this.linelen, i, nl);
          this.linelen += nl - i;
          this.reach(base + nl);
          this.doLine();
          this.newline();
        }
        this.inLine = false;
        i = nl + 1;
        continue;
      }
      const avail = n - i;
      if (avail < limit) {
        buf.copy(this.line, this.linelen, i, n);
        this.linelen += avail;
        return;
      }
      // 1000 bytes without a newline: the line is handled, its tail streams on.
      buf.copy(this.line, this.linelen, i, i + limit);
      this.linelen = LINE;
      i += limit;
      this.reach(base + i - 1);
      this.doLine();
      this.inLine = false;
      this.inLong = true;
    }
  }

  /** The rest of a long line, buf[from, to), to the directories that took its start. */
  private tail(buf: Buffer, from: number, to: number, base: number): void {
    while (from < to) {
      const a = base + from;
      if (this.vb <= a) this.reach(a);
      const seg = Math.min(to, this.vb - base) - from;
      for (const d of this.dirs)
        if (d.selected) {
          d.room(seg);
          buf.copy(d.out, d.end, from, from + seg);
          d.end += seg;
          d.putBytes(seg);
        }
      from += seg;
    }
  }

  private newline(): void {
    for (const d of this.dirs)
      if (d.selected) {
        d.room(1);
        d.out[d.end++] = 10;
        d.put(1);
      }
  }

  private emitDirect(buf: Buffer, from: number, len: number): void {
    const s = this.stamp ? 26 : 0;
    const total = s + len;
    for (const d of this.dirs) {
      d.room(total + 1);
      if (s) this.line.copy(d.out, d.end, 0, s);
      buf.copy(d.out, d.end + s, from, from + len);
      d.end += total;
      d.out[d.end++] = 10;
      if (total + 1 <= BUFSIZE - d.p) d.p += total + 1;
      else {
        d.put(total);
        d.put(1);
      }
    }
  }

  /** The script on line[0, linelen), then the line to the selected directories (no newline yet). */
  private doLine(): void {
    const len = this.linelen;
    const line = this.line;
    if (this.looks) {
      line.fill(10, len, LINE + 1);
      let sel = true;
      for (const it of this.items)
        switch (it.k) {
          case "+":
            if (!sel && match(it.pat, line, len)) sel = true;
            break;
          case "-":
            if (sel && match(it.pat, line, len)) sel = false;
            break;
          case "e":
            if (sel) {
              const b =
                len > 200
                  ? Buffer.concat([line.subarray(0, 200), Buffer.from("...\n")])
                  : Buffer.concat([line.subarray(0, len), Buffer.from("\n")]);
              try {
                writeSync(2, b);
              } catch (e) {
                checkPipe(e);
              }
            }
            break;
          case "1":
            if (sel)
              try {
                writeAll(1, Buffer.concat([it.prefix, line.subarray(0, len), Buffer.from("\n")]));
              } catch (e) {
                checkPipe(e);
              }
            break;
          case "=":
            if (sel)
              for (;;) {
                try {
                  if (writeSync(it.fd, line, 0, LINE + 1, 0) === LINE + 1) break;
                  pause(new Error(), "unable to write ", it.name);
                } catch (e) {
                  pause(e, "unable to write ", it.name);
                }
              }
            break;
          case "d":
            it.dir.selected = sel;
            break;
        }
    }
    for (const d of this.dirs)
      if (d.selected) {
        d.room(len);
        line.copy(d.out, d.end, 0, len);
        d.end += len;
        d.put(len);
      }
  }

  /** End of input: the last read's flush, then a partial line gets its newline. */
  private eof(): void {
    this.flushAll();
    if (this.inLine) {
      this.doLine();
      this.newline();
      this.inLine = false;
    } else if (this.inLong) {
      this.newline();
      this.inLong = false;
    }
  }
}

/** scan_ulong: the leading digits (none: 0). */
function scanUlong(s: string): number {
  let u = 0;
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) break;
    u = u * 10 + c;
  }
  return u;
}
