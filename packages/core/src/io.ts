// SPDX-License-Identifier: MIT
import { readSync } from "@qts/sys/fs";
import { errnoName } from "./errstr.ts";

/** read(2) into buf, retried on EINTR: the byte count, 0 at end of input; other errors are thrown. */
export function readChunk(fd: number, buf: Uint8Array): number {
  for (;;) {
    try {
      return readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      if (errnoName(e) !== "EINTR") throw e;
    }
  }
}
