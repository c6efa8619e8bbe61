// SPDX-License-Identifier: MIT
// tcpserver(1)'s children: the program with the socket on fds 0 and 1, found
// in PATH as pathexec_run does, or a stand-in that exits where the C child
// would have (deny, a failed lookup), so that -v logs its pid and status.
import { bytesOf } from "@qts/core/bytes";
import { unable } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import { pathCandidates } from "@qts/sys/execraw";
import { accessSync, constants } from "@qts/sys/fs";
import type { SpawnPool } from "@qts/sys/spawnpool";
import type { Log } from "./log.ts";

type Bytes = string | Uint8Array;

export class Spawner {
  constructor(
    private readonly pool: SpawnPool,
    private readonly children: Set<number>,
    /** The program's arguments, byte strings. */
    private readonly args: readonly string[],
    /** tcpserver's own PATH, which pathexec_run searches. */
    private readonly path: Buffer | undefined,
    private readonly log: Log,
  ) {}

  private async start(file: Bytes, args: readonly Bytes[], envp: readonly Bytes[], fd: number | undefined) {
    const dups: [number, number][] =
      fd === undefined
        ? []
        : [
            [0, fd],
            [1, fd],
          ];
    // With nothing else running the main thread is idle anyway: spawn there, without two thread hand-overs.
    // Every string here is a byte string (ASCII ones read the same either way).
    const inline = this.children.size === 0 && this.pool.busy === 0;
    const pid = await this.pool.spawn(file, args, envp, dups, inline, true);
    this.children.add(pid);
    return pid;
  }

  /** A stand-in child that exits with code, where the C child would have: its pid and status are what -v logs. */
  async standIn(code: number): Promise<number | undefined> {
    try {
      return await this.start("/bin/sh", ["sh", "-c", `exit ${code}`], [], undefined);
    } catch (e) {
      this.log.drop(unable("fork", e));
      return undefined;
    }
  }

  /** The program with environment envp and the socket fd on 0 and 1: its pid, or the error of the last try. */
  async run(envp: string[], fd: number): Promise<{ pid?: number; err?: unknown }> {
    const file = this.args[0] as string;
    if (file.includes("/")) {
      try {
        return { pid: await this.start(file, this.args, envp, fd) };
      } catch (e) {
        return { err: e };
      }
    }
    let saved: unknown;
    for (const p of pathCandidates(bytesOf(file), this.path)) {
      try {
        accessSync(p, constants.F_OK);
      } catch {
        continue;
      }
      try {
        return { pid: await this.start(p, this.args, envp, fd) };
      } catch (e) {
        const code = errnoName(e);
        if (code === "ENOENT") continue;
        saved = e;
        if (code !== "EACCES" && code !== "EPERM" && code !== "EISDIR") break;
      }
    }
    return { err: saved ?? Object.assign(new Error("ENOENT"), { code: "ENOENT" }) };
  }
}
