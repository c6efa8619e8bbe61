// SPDX-License-Identifier: MIT
// The byte stream an unprivileged injector hands to qmail-queued, over the
// socket or in a drop file: the message as frames (4-byte big-endian length,
// 1..65536, then that many bytes), an empty frame ending the message, then
// the envelope exactly as qmail-queue reads it on fd 1. The daemon answers a
// socket with one byte: qmail-queue's exit code (qmail-queue(8), EXIT CODES); after a
// 0, the decimal qp its Received line names (lib/queue/qp.ts), then it hangs up.
import { QQ } from "./qq.ts";
import { QQError, type QueueWriter } from "./queue.ts";

export const MAX_FRAME = 65536;

/** A frame header for len bytes (0 ends the message). */
export function frameHeader(len: number): Buffer {
  const h = Buffer.allocUnsafe(4);
  h.writeUInt32BE(len, 0);
  return h;
}

/**
 * The daemon's reader of that stream: bounded state (a 4-byte header), every
 * byte passed on to the QueueWriter as it arrives.
 */
export class FrameParser {
  private hdr = Buffer.alloc(4);
  private hn = 0;
  private left = 0;
  private inEnv = false;
  private final = -1;

  /** Feeds bytes; returns -1 for "more", else the final code (0 = queued). */
  feed(b: Uint8Array, w: QueueWriter): number {
    if (this.final >= 0) return this.final;
    try {
      let i = 0;
      while (i < b.length) {
        if (this.inEnv) return this.set(w.envelope(b.subarray(i)));
        if (this.left > 0) {
          const n = Math.min(this.left, b.length - i);
          w.put(b.subarray(i, i + n));
          this.left -= n;
          i += n;
          continue;
        }
        const n = Math.min(4 - this.hn, b.length - i);
        this.hdr.set(b.subarray(i, i + n), this.hn);
        this.hn += n;
        i += n;
        if (this.hn < 4) break;
        this.hn = 0;
        const len = this.hdr.readUInt32BE(0);
        if (len === 0) {
          w.messageEnd();
          this.inEnv = true;
        } else if (len > MAX_FRAME) {
          w.abort(QQ.READ);
          return this.set(QQ.ENVELOPE);
        } else this.left = len;
      }
      return -1;
    } catch (e) {
      if (e instanceof QQError) return this.set(e.code);
      throw e;
    }
  }

  /** End of the stream: 54 (nothing queued) unless the envelope was complete. */
  end(w: QueueWriter): number {
    if (this.final >= 0) return this.final;
    return this.set(this.inEnv ? w.envelopeEnd() : w.abort(QQ.READ));
  }

  private set(code: number): number {
    if (code >= 0) this.final = code;
    return code;
  }
}
