// SPDX-License-Identifier: MIT
// The worker thread of spawnpool.ts: posixspawn.ts spawn() for each request,
// answered with the pid or the error number. A worker has its own copy of the
// modules, so it opens libc for itself (ffi.ts). bin/qts holds this file as
// an entry point of its own (scripts/build.ts).
import { spawn } from "./posixspawn.ts";

export interface SpawnRequest {
  id: number;
  file: string | Uint8Array;
  argv: readonly (string | Uint8Array)[];
  env: readonly (string | Uint8Array)[];
  /** Child fd -> parent fd. */
  dup2: [number, number][];
  /** Signals reset to SIG_DFL in the child. */
  sigs: readonly number[];
  /** The only fds above 2 the child keeps besides the dup2 targets (posixspawn.ts keepOnly). */
  keepOnly?: readonly number[];
  /** How the strings become bytes: latin1 for byte strings (core/bytes.ts), else UTF-8. */
  enc: "latin1" | "utf8";
}

export type SpawnReply =
  | { id: number; pid: number; errno?: undefined }
  | { id: number; pid?: undefined; errno: number };

function serve(m: SpawnRequest): SpawnReply {
  const b = (s: string | Uint8Array) => (typeof s === "string" ? Buffer.from(s, m.enc) : s);
  try {
    return {
      id: m.id,
      pid: spawn(b(m.file), m.argv.map(b), m.env.map(b), { dup2: m.dup2, sigDefault: m.sigs, keepOnly: m.keepOnly }),
    };
  } catch (e) {
    return { id: m.id, errno: (e as { errno?: number }).errno ?? 0 };
  }
}

/** The worker's global scope, as much of it as is used here. */
const scope = globalThis as unknown as {
  onmessage: (ev: MessageEvent<SpawnRequest>) => void;
  postMessage: (m: SpawnReply) => void;
};
scope.onmessage = (ev) => scope.postMessage(serve(ev.data));
