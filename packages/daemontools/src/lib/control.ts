// SPDX-License-Identifier: MIT
// supervise/control: the bytes svc writes, queued in arrival order. supervise
// takes one per loop turn (supervise.c's doit()), so bytes that
// arrive while it sleeps wait here, as they would in the FIFO.
import { readSync } from "@qts/sys/fs";

export class ControlQueue {
  private bytes: number[] = [];
  private head = 0;

  /** Reads fd (a non-blocking FIFO that never reaches EOF) in the background; onByte runs after each arrival. */
  constructor(
    private readonly fd: number,
    private readonly onByte: () => void,
  ) {
    void (async () => {
      for await (const chunk of Bun.file(fd).stream()) this.add(chunk);
    })()
      .catch(() => {})
      // The stream is not expected to end (supervise holds a writer); if it does, poll instead of going deaf.
      .finally(() => setInterval(() => this.poll(), 100));
  }

  private add(chunk: Uint8Array): void {
    for (const b of chunk) this.bytes.push(b);
    if (chunk.length) this.onByte();
  }

  private poll(): void {
    const buf = Buffer.alloc(256);
    for (;;) {
      let n = 0;
      try {
        n = readSync(this.fd, buf, 0, buf.length, null);
      } catch {
        return;
      }
      if (n <= 0) return;
      this.add(buf.subarray(0, n));
    }
  }

  get size(): number {
    return this.bytes.length - this.head;
  }

  /** The next byte as a one-character string, or undefined when none is queued. */
  next(): string | undefined {
    if (this.head >= this.bytes.length) return undefined;
    const b = this.bytes[this.head++] as number;
    if (this.head > 4096 && this.head * 2 > this.bytes.length) {
      this.bytes = this.bytes.slice(this.head);
      this.head = 0;
    }
    return String.fromCharCode(b);
  }
}
