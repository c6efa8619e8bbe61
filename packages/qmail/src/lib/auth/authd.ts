// SPDX-License-Identifier: MIT
// qmail-authd's server (qmail-authd(8)): password checks on a unix socket for
// root and the uids it was told to serve, identified by SO_PEERCRED only.
// Each client costs a 1 KB buffer; at most maxClients at once; checks run one
// after the other (crypt(3) runs on the event loop), so they also pace guessing.
import { unlinkSync } from "@qts/sys/fs";
import { listenReplacing, peerOf } from "../net/unixlisten.ts";
import { FIELD_MAX, REQUEST_MAX, REQUEST_MS } from "./authd-proto.ts";
import { CP, checkPassword } from "./passcheck.ts";

export interface AuthdOpts {
  /** The socket's path. */
  socket: string;
  /** Uids served besides root. */
  allowed: ReadonlySet<number>;
  /** Clients at once; more are answered 111 at once. */
  maxClients?: number;
  /** How long a client may take to send its request. */
  requestMs?: number;
  /** After its answer, how long a client may take to hang up. */
  lingerMs?: number;
  /** PAM's unix_chkpwd, asked when the shadow file cannot be read (not root). */
  helper?: string;
  /** One line each, without the program's name: "info: ..." or "warning: ...". */
  log: (line: string) => void;
}

interface Client {
  uid: number;
  buf: Buffer;
  len: number;
  /** Bytes in the field being read (since the last NUL). */
  field: number;
  nuls: number;
  answered: boolean;
  counted: boolean;
  busy?: boolean;
  timer?: ReturnType<typeof setTimeout>;
}

/** A name as a log line may show it: bytes other than printable ASCII (and space) become '?'. */
function safe(b: Buffer): string {
  let s = "";
  for (const c of b) s += c > 0x20 && c < 0x7f ? String.fromCharCode(c) : "?";
  return s;
}

/** Busy clients that may wait (uncounted) to read their 111. */
const BUSY_MAX = 64;

export class Authd {
  private clients = 0;
  private busy = 0;
  private server: ReturnType<typeof Bun.listen<Client>> | undefined;
  private readonly o: Required<Omit<AuthdOpts, "helper">> & { helper?: string };

  constructor(opts: AuthdOpts) {
    this.o = { maxClients: 16, requestMs: REQUEST_MS, lingerMs: 1000, ...opts };
  }

  /** Listens (unixlisten.ts). Who may connect is decided by SO_PEERCRED; the directory (0750) keeps everyone else away. */
  start(): void {
    this.server = listenReplacing<Client>(this.o.socket, {
      open: (s) => this.guard(s, () => this.open(s)),
      data: (s, d) => this.guard(s, () => this.data(s, d)),
      end: (s) => this.guard(s, () => this.end(s)),
      close: (s) => this.close(s),
      error: (s) => this.close(s),
    });
  }

  stop(): void {
    this.server?.stop(true);
    this.server = undefined;
    try {
      unlinkSync(this.o.socket);
    } catch {}
  }

  /** A bug met by one client must not take the daemon down: that client gets 111. */
  private guard(s: Bun.Socket<Client>, f: () => void): void {
    try {
      f();
    } catch (e) {
      this.o.log(`warning: internal error: ${e instanceof Error ? e.message : String(e)}`);
      try {
        this.answer(s, CP.TEMP);
      } catch {}
    }
  }

  private open(s: Bun.Socket<Client>): void {
    const { uid, pid } = peerOf(s);
    const cl: Client = { uid, buf: Buffer.alloc(0), len: 0, field: 0, nuls: 0, answered: false, counted: false };
    s.data = cl;
    if (uid !== 0 && !this.o.allowed.has(uid)) {
      // Not ours to serve: no answer at all.
      cl.answered = true;
      this.o.log(`warning: uid ${uid < 0 ? "unknown" : uid} pid ${pid} not allowed: closed`);
      s.terminate();
      return;
    }
    if (this.clients >= this.o.maxClients) {
      // Busy: 111 at once. Such clients are not counted; up to BUSY_MAX of them get lingerMs to
      // read the byte, the others are closed at once (a reset, which a client takes as 111 too).
      this.o.log(`warning: uid ${uid} busy: ${this.clients} clients`);
      if (this.busy >= BUSY_MAX) {
        cl.answered = true;
        s.terminate();
        return;
      }
      this.busy++;
      cl.busy = true;
      this.answer(s, CP.TEMP);
      return;
    }
    this.clients++;
    cl.counted = true;
    cl.buf = Buffer.alloc(REQUEST_MAX);
    cl.timer = setTimeout(() => {
      if (cl.answered) return;
      this.o.log(`warning: uid ${uid} timeout`);
      this.answer(s, CP.TEMP);
    }, this.o.requestMs);
  }

  private data(s: Bun.Socket<Client>, d: Buffer): void {
    const cl = s.data;
    try {
      if (!cl || cl.answered) return;
      for (const c of d) {
        if (cl.len >= REQUEST_MAX || (c !== 0 && cl.field >= FIELD_MAX)) {
          // checkpassword.c refuses what does not fit its buffer: 1
          this.o.log(`warning: uid ${cl.uid} request too long`);
          this.answer(s, CP.BAD);
          return;
        }
        cl.buf[cl.len++] = c;
        if (c !== 0) {
          cl.field++;
          continue;
        }
        cl.field = 0;
        if (++cl.nuls === 3) {
          this.check(s);
          return;
        }
      }
    } finally {
      d.fill(0);
    }
  }

  /** End of the request: name and password (a timestamp is optional), or misuse (2). */
  private end(s: Bun.Socket<Client>): void {
    const cl = s.data;
    if (!cl || cl.answered) return;
    if (cl.nuls >= 2) this.check(s);
    else {
      this.o.log(`warning: uid ${cl.uid} malformed request`);
      this.answer(s, CP.MISUSE);
    }
  }

  private check(s: Bun.Socket<Client>): void {
    const cl = s.data;
    const n1 = cl.buf.indexOf(0);
    const n2 = cl.buf.indexOf(0, n1 + 1);
    const name = cl.buf.subarray(0, n1);
    const password = cl.buf.subarray(n1 + 1, n2);
    let code: number;
    try {
      const v = checkPassword(name, password, { refuseRoot: true, helper: this.o.helper });
      code = v.code;
      const what = code === CP.OK ? "ok" : code === CP.BAD ? `failed (${v.why})` : `temporary failure (${v.why})`;
      this.o.log(`info: uid ${cl.uid} name ${safe(name)} ${what}`);
    } finally {
      cl.buf.fill(0);
    }
    this.answer(s, code);
  }

  /** One byte, then our side shuts; the client has lingerMs to read it and hang up. */
  private answer(s: Bun.Socket<Client>, code: number): void {
    const cl = s.data;
    if (cl) {
      cl.answered = true;
      cl.buf.fill(0);
      clearTimeout(cl.timer);
      cl.timer = setTimeout(() => s.terminate(), this.o.lingerMs);
    }
    s.write(Buffer.of(code));
    s.flush();
    s.shutdown();
  }

  private close(s: Bun.Socket<Client>): void {
    const cl = s.data;
    if (!cl) return;
    clearTimeout(cl.timer);
    cl.buf.fill(0);
    if (cl.counted) {
      cl.counted = false;
      this.clients--;
    }
    if (cl.busy) {
      cl.busy = false;
      this.busy--;
    }
  }
}
