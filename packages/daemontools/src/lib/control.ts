// SPDX-License-Identifier: MIT
// supervise/control: the bytes svc writes, queued in arrival order. supervise
// takes one per loop turn (spec/daemontools-ucspi.md §1.2), so bytes that
// arrive while it sleeps wait here, as they would in the FIFO.

export class ControlQueue {
  private bytes: number[] = [];
  private head = 0;

  /** Reads fd (a non-blocking FIFO that never reaches EOF) in the background; onByte runs after each arrival. */
  constructor(fd: number, onByte: () => void) {
    void (async () => {
      for await (const chunk of Bun.file(fd).stream()) {
        for (const b of chunk) this.bytes.push(b);
        onByte();
      }
    })().catch(() => {});
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
