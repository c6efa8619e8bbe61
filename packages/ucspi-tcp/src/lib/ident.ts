// SPDX-License-Identifier: MIT
// RFC 1413 lookup as ucspi-tcp's remoteinfo(): connect from the local IP to the
// remote port 113, send "REMOTEPORT , LOCALPORT\r\n", and keep what follows the
// third ':' of the reply line with blanks dropped (at most 257 bytes). The
// whole exchange shares one deadline of timeout seconds.
import { connect } from "node:net";

export function remoteInfo(
  remoteIp: string,
  remotePort: number,
  localIp: string,
  localPort: number,
  timeoutSec: number,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    let done = false;
    const out: number[] = [];
    let colons = 0;
    const finish = (v: string | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const sock = connect({ host: remoteIp, port: 113, localAddress: localIp });
    const timer = setTimeout(() => finish(undefined), Math.max(0, timeoutSec) * 1000);
    sock.on("error", () => finish(undefined));
    sock.on("close", () => finish(undefined));
    sock.on("connect", () => sock.write(`${remotePort} , ${localPort}\r\n`));
    sock.on("data", (chunk: Buffer) => {
      for (const ch of chunk) {
        if (ch === 0x20 || ch === 0x09 || ch === 0x0d) continue;
        if (ch === 0x0a) return finish(Buffer.from(out).toString());
        if (colons < 3) {
          if (ch === 0x3a) colons++;
        } else {
          out.push(ch);
          if (out.length > 256) return finish(Buffer.from(out).toString());
        }
      }
    });
  });
}
