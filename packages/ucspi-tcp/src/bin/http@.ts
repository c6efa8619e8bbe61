// SPDX-License-Identifier: MIT
// ucspi-tcp's http@ script: fetch a page by HTTP/1.0 and print its body.
//   echo "GET /${2-} HTTP/1.0
//   Host: ${1-0}:${3-80}
//   " | tcpclient -RHl0 -- "${1-0}" "${3-80}" sh -c 'addcr >&7; exec delcr <&6' |
//   awk '/^$/ { body=1; next } { if (body) print }'
import { setProg } from "@qts/core/die";
import type { Env } from "@qts/core/run";
import { ours, pipeline } from "../lib/client.ts";
import { afterHeader } from "../lib/crlf.ts";

export const usage = "http@ [ host [ page [ port ] ] ]";

export function main(argv: string[], env: Env): Promise<number> {
  setProg("http@");
  const host = argv[0] ?? "0";
  const port = argv[2] ?? "80";
  const script = '"$0" >&7\nexec "$1" <&6';
  return pipeline(
    [host, port, "sh", "-c", script, ours("addcr"), ours("delcr")],
    `GET /${argv[1] ?? ""} HTTP/1.0\nHost: ${host}:${port}\n\n`,
    afterHeader(),
    env,
  );
}
