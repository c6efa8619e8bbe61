// SPDX-License-Identifier: MIT
// qmail-smtpd's TLS (RFC 3207 STARTTLS, RFC 8314 implicit TLS): the runtime's
// node:tls over the connection's fds 0 and 1. Loaded only by a session that
// starts TLS, so a plain session never evaluates node:tls (qmail-smtpd(8)).
// node:tls and node:stream are imported inside start(): a static import of a
// built-in is hoisted to the top of the multicall bundle and would load it
// for every program (about 10-30 ms of CPU each, measured).
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { errnoName } from "@qts/core/errstr";
import { setBlocking } from "@qts/sys/exec";
import { read, readFileSync } from "@qts/sys/fs";
import { ReadEof, ReadTimeout, writeFully } from "../net/timeoutio.ts";

/** What the session reads and writes through: plain fds or a TLS channel. */
export interface SmtpIo {
  read(buf: Uint8Array, ms: number): Promise<number>;
  write(b: Uint8Array): void;
  /** Waits (bounded) until what was written has left; at the end of a session. */
  close?(): Promise<void>;
}

export class TlsFailed extends Error {}

/** Raw bytes read ahead of TLS before reading stops until TLS takes them. */
const RAWAHEAD = 1 << 20;

/**
 * The raw connection as a stream for node:tls: reads from fdIn with read(2),
 * writes synchronously to fdOut. Under tcpserver both are the same socket;
 * node:net cannot adopt such an fd under Bun, a Duplex over the fds can.
 * It reads on its own, not only when the stream asks (Bun's TLS over a
 * Duplex was seen to stop asking, so a client's close went unnoticed), up to
 * RAWAHEAD bytes ahead; onEnd hears of the connection's end directly.
 */
function fdDuplex(D: typeof Duplex, fdIn: number, fdOut: number, onEnd: () => void): Duplex {
  let waiting: (() => void) | undefined;
  const d = new D({
    read() {
      const w = waiting;
      waiting = undefined;
      w?.();
    },
    write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void) {
      try {
        writeFully(fdOut, chunk);
        cb();
      } catch (e) {
        cb(e as Error);
      }
    },
  });
  const loop = (again: boolean): void => {
    const b = Buffer.allocUnsafe(16384);
    read(fdIn, b, 0, b.length, null, (e, n) => {
      if (e && errnoName(e) === "EAGAIN" && !again) {
        // a non-blocking socket from the caller (our tcpserver): make it blocking, as timeoutRead does
        try {
          setBlocking(fdIn, true);
        } catch {}
        loop(true);
        return;
      }
      if (e || n <= 0) {
        d.push(null);
        onEnd();
        return;
      }
      d.push(b.subarray(0, n));
      if (d.readableLength < RAWAHEAD) loop(true);
      else waiting = () => loop(true);
    });
  };
  loop(false);
  return d;
}

export interface TlsInfo {
  /** TLSv1.2 or TLSv1.3 */
  version: string;
  /** OpenSSL's cipher name, as the netqmail TLS patch logs it. */
  cipher: string;
}

const MAXQUEUED = 1 << 18;

/** A server-side TLS session on fds 0/1, read through a queue of decrypted chunks. */
export class TlsChannel implements SmtpIo {
  private chunks: Buffer[] = [];
  private queued = 0;
  private eof = false;
  private wake: (() => void) | undefined;

  private constructor(readonly sock: TLSSocket) {
    sock.on("data", (d: Buffer) => {
      this.chunks.push(d);
      this.queued += d.length;
      if (this.queued > MAXQUEUED) sock.pause();
      this.wake?.();
    });
    const end = () => {
      this.eof = true;
      this.wake?.();
    };
    sock.on("end", end);
    sock.on("close", end);
    sock.on("error", end);
  }

  /** The raw connection ended: nothing more will come. */
  rawEnd(): void {
    // after TLS has had its turn with the last bytes
    setImmediate(() => {
      this.eof = true;
      this.wake?.();
    });
  }

  get info(): TlsInfo {
    const c = this.sock.getCipher();
    return { version: this.sock.getProtocol() ?? "TLS", cipher: c?.name ?? "unknown" };
  }

  /**
   * Handshake as the server with control/servercert.pem (chain and key in one
   * file, the netqmail TLS patch's convention); TLS 1.2 and 1.3 only. Rejects
   * TlsFailed on a bad handshake or one that takes longer than ms.
   */
  static async start(fdIn: number, fdOut: number, certFile: string, ms: number, ciphers?: string): Promise<TlsChannel> {
    const { createSecureContext, TLSSocket } = await import("node:tls");
    const { Duplex } = await import("node:stream");
    let ctx: ReturnType<typeof createSecureContext>;
    try {
      const pem = readFileSync(certFile);
      ctx = createSecureContext({
        key: pem,
        cert: pem,
        minVersion: "TLSv1.2",
        ...(ciphers ? { ciphers } : {}),
      });
    } catch (e) {
      throw new TlsFailed(`unable to load ${certFile}: ${(e as Error).message}`);
    }
    // the connection's end, even when TLS itself never reports it (no close_notify):
    // during the handshake it fails the handshake, later it is the session's end of input
    let rawEnded = false;
    let onRawEnd: (() => void) | undefined;
    const raw = fdDuplex(Duplex, fdIn, fdOut, () => {
      rawEnded = true;
      onRawEnd?.();
    });
    const sock = new TLSSocket(raw, { isServer: true, secureContext: ctx, requestCert: false });
    return new Promise((ok, fail) => {
      let settled = false;
      const t = setTimeout(() => bad(new Error("timeout")), ms);
      const bad = (e?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(t);
        sock.destroy();
        fail(new TlsFailed(e?.message ?? "connection closed"));
      };
      sock.once("secure", () => {
        if (settled) return;
        settled = true;
        clearTimeout(t);
        sock.removeAllListeners("error");
        const ch = new TlsChannel(sock);
        onRawEnd = () => ch.rawEnd();
        if (rawEnded) ch.rawEnd();
        ok(ch);
      });
      // after TLS has had its turn with the last bytes
      onRawEnd = () => setImmediate(() => bad());
      if (rawEnded) onRawEnd();
      sock.once("error", bad);
      sock.once("close", () => bad());
    });
  }

  read(buf: Uint8Array, ms: number): Promise<number> {
    const take = (): number => {
      let n = 0;
      while (n < buf.length && this.chunks.length > 0) {
        const c = this.chunks[0] as Buffer;
        const k = Math.min(c.length, buf.length - n);
        buf.set(c.subarray(0, k), n);
        n += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
      this.queued -= n;
      if (this.queued <= MAXQUEUED && this.sock.isPaused()) this.sock.resume();
      return n;
    };
    return this.drained(ms).then(() => {
      if (this.chunks.length > 0) return take();
      if (this.eof) throw new ReadEof();
      return new Promise<number>((ok, fail) => {
        const t = setTimeout(() => {
          this.wake = undefined;
          fail(new ReadTimeout());
        }, ms);
        this.wake = () => {
          clearTimeout(t);
          this.wake = undefined;
          if (this.chunks.length > 0) ok(take());
          else fail(new ReadEof());
        };
      });
    });
  }

  /**
   * A client that sends commands but never reads the replies: like the
   * blocking write of the plain path, stop reading until the replies have
   * gone out, for at most the timeout.
   */
  private drained(ms: number): Promise<void> {
    if (this.sock.writableLength <= MAXQUEUED) return Promise.resolve();
    return new Promise((ok, fail) => {
      const t = setTimeout(() => fail(new ReadTimeout()), ms);
      this.sock.once("drain", () => {
        clearTimeout(t);
        ok();
      });
    });
  }

  write(b: Uint8Array): void {
    if (this.sock.destroyed) throw new Error("closed");
    this.sock.write(Buffer.from(b));
  }

  close(): Promise<void> {
    return new Promise((ok) => {
      const t = setTimeout(ok, 5000);
      this.sock.end(() => {
        clearTimeout(t);
        ok();
      });
    });
  }
}
