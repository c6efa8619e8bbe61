// SPDX-License-Identifier: MIT
// RFC 1413 lookup as ucspi-tcp's remoteinfo(): connect from the local IP to the
// remote port 113, send "REMOTEPORT , LOCALPORT\r\n", and keep what follows the
// third ':' of the reply line with blanks dropped (at most 257 bytes). The
// whole exchange shares one deadline of timeout seconds.

type Net = typeof import("node:net");

/** The reply line as remoteinfo() reads it: blanks dropped, the part after the third ':' kept. */
class Reply {
  private readonly out: number[] = [];
  private colons = 0;

  /** Takes chunk; returns the answer once the line ended or grew past 256 bytes. */
  take(chunk: Buffer): string | undefined {
    for (const ch of chunk) {
      if (ch === 0x20 || ch === 0x09 || ch === 0x0d) continue;
      if (ch === 0x0a) return Buffer.from(this.out).toString();
      if (this.colons < 3) {
        if (ch === 0x3a) this.colons++;
        continue;
      }
      this.out.push(ch);
      if (this.out.length > 256) return Buffer.from(this.out).toString();
    }
    return undefined;
  }
}

export function remoteInfo(
  remoteIp: string,
  remotePort: number,
  localIp: string,
  localPort: number,
  timeoutSec: number,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    let done = false;
    const reply = new Reply();
    const finish = (v: string | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    // node:net is loaded by the first lookup (-r), not at tcpserver's start.
    const sock = (require("node:net") as Net).connect({ host: remoteIp, port: 113, localAddress: localIp });
    const timer = setTimeout(() => finish(undefined), Math.max(0, timeoutSec) * 1000);
    sock.on("error", () => finish(undefined));
    sock.on("close", () => finish(undefined));
    sock.on("connect", () => sock.write(`${remotePort} , ${localPort}\r\n`));
    sock.on("data", (chunk: Buffer) => {
      const v = reply.take(chunk);
      if (v !== undefined) finish(v);
    });
  });
}
