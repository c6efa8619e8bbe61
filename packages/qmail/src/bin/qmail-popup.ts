// SPDX-License-Identifier: MIT
// qmail-popup: the POP3 authorization state (qmail-popup(8), qmail-popup.c):
// USER/PASS or APOP from the network, then the checkpassword program with the
// name, the password and the APOP timestamp on its fd 3.
import { bytesOf, execArgs, execEnv, rawArgs } from "@qts/core/bytes";
import { setProg, sigpipeIgnore } from "@qts/core/die";
import { errnoName } from "@qts/core/errstr";
import type { Env } from "@qts/core/run";
import { CHILD_SIGDEFAULT } from "@qts/sys/consts";
import { startSigMask } from "@qts/sys/exec";
import { envEntries, firstCandidate } from "@qts/sys/execraw";
import { closeSync, writeSync } from "@qts/sys/fs";
import { pipe } from "@qts/sys/pipe";
import { spawn } from "@qts/sys/posixspawn";
import { exitCode, termSig, waitStatus } from "@qts/sys/waitpid";
import { PopIn, PopOut, splitCommand } from "../lib/pop3/pop3.ts";

export const usage = "qmail-popup hostname subprogram";

// qmail-popup.c's die(): every way out, even after a successful session, is exit 1.
const DIE = 1;

class Popup {
  private readonly out = new PopOut(1, DIE);
  private readonly unique = Buffer.from(`${process.pid}.${Math.floor(Date.now() / 1000)}@`);
  private username: Buffer | undefined;

  constructor(
    private readonly hostname: Buffer,
    private readonly child: (string | Buffer)[],
    private readonly env: Env,
  ) {}

  greet(): void {
    this.out.put("+OK <");
    this.out.put(this.unique);
    this.out.put(this.hostname);
    this.out.put(">\r\n");
    this.out.flush();
  }

  /** One command; returns an exit code when the session is over. */
  command(line: Buffer): number | undefined {
    const { verb, arg } = splitCommand(line);
    switch (verb) {
      case "user":
        if (arg.length === 0) return this.say("syntax error");
        this.out.okay();
        this.username = Buffer.from(arg);
        return;
      case "pass":
        if (!this.username) return this.say("USER first");
        if (arg.length === 0) return this.say("syntax error");
        return this.doAndDie(this.username, arg);
      case "apop": {
        const sp = arg.indexOf(32);
        if (sp < 0) return this.say("syntax error");
        return this.doAndDie(arg.subarray(0, sp), arg.subarray(sp + 1));
      }
      case "quit":
        this.out.okay();
        return DIE;
      case "noop":
        this.out.okay();
        return;
      default:
        this.out.err("authorization first");
    }
  }

  private say(text: string): undefined {
    this.out.err(text);
    return undefined;
  }

  /** doanddie(): the subprogram with fd 3 reading "user\0pass\0<timestamp>\0"; its verdict, then exit 1. */
  private doAndDie(user: Buffer, pass: Buffer): number {
    let r: number;
    let w: number;
    try {
      [r, w] = pipe();
    } catch {
      this.out.err("unable to open pipe");
      return DIE;
    }
    const argv = this.child;
    const { entries, path } = envEntries(execEnv(this.env));
    let pid = 0;
    try {
      pid = firstCandidate(argv[0] as string | Buffer, path, (file) =>
        spawn(file, argv, entries, {
          dup2: [
            [0, 0],
            [1, 1],
            [2, 2],
            [3, r],
          ],
          sigDefault: CHILD_SIGDEFAULT,
          sigMask: startSigMask(),
        }),
      );
    } catch (e) {
      const code = errnoName(e);
      if (code === "EAGAIN" || code === "ENOMEM") {
        closeSync(r);
        closeSync(w);
        this.out.err("unable to fork");
        return DIE;
      }
      // execvp failed in the C child, which then exits 1: the same answer as a refused password
      pid = 0;
    }
    closeSync(r);
    const data = Buffer.concat([
      user,
      Buffer.from([0]),
      pass,
      Buffer.from("\0<"),
      this.unique,
      this.hostname,
      Buffer.from(">\0"),
    ]);
    try {
      for (let at = 0; at < data.length; ) at += writeSync(w, data, at);
    } catch {
      if (pid) {
        data.fill(0);
        closeSync(w);
        this.out.err("unable to write pipe");
        return DIE;
      }
    } finally {
      data.fill(0);
      pass.fill(0);
    }
    closeSync(w);
    if (!pid) {
      this.out.err("authorization failed");
      return DIE;
    }
    let st: number;
    try {
      st = waitStatus(pid);
    } catch {
      return DIE;
    }
    if (termSig(st)) this.out.err("aack, child crashed");
    else if (exitCode(st)) this.out.err("authorization failed");
    return DIE;
  }
}

export function main(argv: string[], env: Env): number {
  setProg("qmail-popup");
  sigpipeIgnore();
  const out = new PopOut(1, DIE);
  if (argv.length < 2) {
    out.err("usage: popup hostname subprogram");
    return DIE;
  }
  const hostname = bytesOf(rawArgs(argv.slice(0, 1))[0] as string);
  const popup = new Popup(hostname, execArgs(argv).slice(1), env);
  const input = new PopIn(0, DIE, 128);
  popup.greet();
  for (;;) {
    const done = popup.command(input.line());
    if (done !== undefined) return done;
  }
}
