// SPDX-License-Identifier: MIT
// qmail-authd's socket and its protocol (qmail-authd(8)): the client sends
// name NUL password NUL timestamp NUL (checkpassword's descriptor 3) and shuts
// down its side; the daemon answers one byte, checkpassword's exit code.
import { connect } from "node:net";
import { join } from "@qts/core/path";

/** <home>/authd: root, group nofiles (qmaild's), 0750: only root and that group reach the socket. */
export const AUTHD_DIR = "authd";
/** <home>/authd/socket: qmail-authd's unix stream socket. */
export const AUTHD_SOCKET = "authd/socket";

/** The most bytes in one field of a request (checkpassword.c's buffer). */
export const FIELD_MAX = 512;
/** The most bytes in a whole request. */
export const REQUEST_MAX = 1024;
/** How long a client may take to send its request, and a caller waits for the answer. */
export const REQUEST_MS = 10_000;

export function authdSocket(home: string): string {
  return join(home, AUTHD_SOCKET);
}

/**
 * Asks the qmail-authd at path about request (which the caller zeroes) and
 * resolves to its answer: 0, 1, 2 or 111. 111 too when the socket is missing,
 * nobody listens, the daemon closes without an answer, or no answer comes
 * within timeoutMs (waiting for a busy daemon included).
 */
export function askAuthd(path: string, request: Buffer, timeoutMs = 3 * REQUEST_MS): Promise<number> {
  return new Promise((ok) => {
    let answer = -1;
    let done = false;
    const finish = (code: number) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      ok(code);
    };
    const s = connect({ path });
    const timer = setTimeout(() => finish(111), timeoutMs);
    const verdict = () => (answer === 0 || answer === 1 || answer === 2 ? answer : 111);
    s.on("error", () => finish(verdict()));
    s.on("data", (d: Buffer) => {
      if (answer < 0 && d.length > 0) answer = d[0] as number;
    });
    s.on("end", () => finish(verdict()));
    s.on("close", () => finish(verdict()));
    s.on("connect", () => {
      s.end(request);
    });
  });
}
