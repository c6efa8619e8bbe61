// SPDX-License-Identifier: MIT
// tcpserver and tcpclient hand their program the very bytes of their arguments and environment, and
// tcpserver a rule's values as the cdb holds them (core/bytes.ts): ours and Debian's side by side. The
// bytes are made by printf inside sh, so no JS string carries them; the program prints them as hex.
import { afterAll, describe, expect, test } from "bun:test";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { kill, original, ours, run, start, tmp } from "../lib/harness.ts";

function impls(name: string): [string, string][] {
  const list: [string, string][] = [["ours", ours(name)]];
  const o = original(name);
  if (o) list.push(["original", o]);
  return list;
}

const TCPRULES = original("tcprules") ?? ours("tcprules");
const SETUP = `X=$(printf 'a\\377\\351b'); export X; A=$(printf '\\351z\\377')`;
// X, the variable named Y\xff (from /proc: sh drops names that are not identifiers), R, and $1 as hex.
const CHILD = `sh -c 'printf %s "$X" | od -An -tx1; tr "\\000" "\\n" </proc/$$/environ | grep -a "^Y" | od -An -tx1; printf %s "$R" | od -An -tx1; printf %s "$1" | od -An -tx1' sh "$A"`;

function hexLines(out: string): string[] {
  return out
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => l.replace(/\s+$/, ""));
}

const started: number[] = [];
afterAll(() => {
  for (const p of started) kill(p);
});

describe.each(impls("tcpserver"))("tcpserver (%s): bytes that are not UTF-8", (_w, bin) => {
  test("the program's argument, inherited environment and a rule's value, byte for byte", async () => {
    const d = tmp();
    const rules = Buffer.from('127.0.0.1:allow,R="\xe9\xff"\n', "latin1");
    const t = await run(TCPRULES, [join(d, "r.cdb"), join(d, "r.tmp")], { input: rules });
    expect(t.code).toBe(0);
    const proc = start(
      "sh",
      ["-c", `${SETUP}; exec env "$(printf 'Y\\377')=1" ${bin} -1 -x r.cdb 127.0.0.1 0 ${CHILD}`],
      { stdio: ["ignore", "pipe", "ignore"], env: { PATH: "/usr/bin:/bin" }, extendEnv: false, cwd: d },
    );
    started.push(proc.pid);
    try {
      const port = Number((await proc.until("\n", 5000)).trim());
      expect(port).toBeGreaterThan(0);
      const out = await new Promise<string>((resolve) => {
        const chunks: Buffer[] = [];
        const s = connect(port, "127.0.0.1");
        const timer = setTimeout(() => s.destroy(), 5000);
        s.on("data", (c: Buffer) => chunks.push(c));
        s.on("close", () => {
          clearTimeout(timer);
          resolve(Buffer.concat(chunks).toString());
        });
        s.on("error", () => {});
      });
      expect(hexLines(out)).toEqual([" 61 ff e9 62", " 59 ff 3d 31 0a", " e9 ff", " e9 7a ff"]);
    } finally {
      proc.kill();
    }
  });
});

describe.each(impls("tcpclient"))("tcpclient (%s): bytes that are not UTF-8", (_w, bin) => {
  test("the program's argument and inherited environment, byte for byte", async () => {
    const server = createServer((s) => s.end());
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    try {
      const port = (server.address() as { port: number }).port;
      const r = await run(
        "sh",
        [
          "-c",
          `${SETUP}; R=$(printf '\\351\\377'); export R; exec env "$(printf 'Y\\377')=1" ${bin} -RH 127.0.0.1 ${port} ${CHILD}`,
        ],
        { timeout: 10_000 },
      );
      expect(r.stderr).toBe("");
      expect(hexLines(r.stdout)).toEqual([" 61 ff e9 62", " 59 ff 3d 31 0a", " e9 ff", " e9 7a ff"]);
    } finally {
      server.close();
    }
  });
});
