// SPDX-License-Identifier: MIT
import { writeSync } from "@qts/sys/fs";
import { errnoName, errorStr } from "./errstr.ts";
import { EXIT_USAGE } from "./exit.ts";

// The program name used as the message prefix; each main sets it first, like DJB's FATAL.
let prog = "unknown";

export function setProg(name: string): void {
  prog = name;
}

export function getProg(): string {
  return prog;
}

/** Thrown to end the program with a code; run() is the only place that exits. */
export class Exit {
  constructor(readonly code: number) {}
}

// SIGPIPE. Bun ignores it at start-up, so a write to a pipe without a reader fails with EPIPE; most C
// originals leave it at its default and die of it there (exit status 141 in a shell, no message). The
// entry registers the death (sys: SIG_DFL, then raise); a program whose C source calls sig_pipeignore()
// calls sigpipeIgnore() at the same point and keeps EPIPE as an ordinary write error.
let pipeIgnored = false;
let pipeDeath: (() => void) | undefined;

/** Registers how to die of SIGPIPE (the generated entry passes sys's dieOfSigpipe). */
export function setSigpipeDeath(f: () => void): void {
  pipeDeath = f;
}

/** C's sig_pipeignore(): from here on EPIPE is a write error, not the end of the process. */
export function sigpipeIgnore(): void {
  pipeIgnored = true;
}

/**
 * Call with any write error: EPIPE, in a program that does not ignore SIGPIPE,
 * ends the process by SIGPIPE right here, as the C program's write(2) would.
 * Returns otherwise (the caller then handles the error as before).
 */
export function checkPipe(e: unknown): void {
  if (!pipeIgnored && pipeDeath && errnoName(e) === "EPIPE") pipeDeath();
}

/** Writes all of s to fd synchronously (diagnostics must survive exec and exit). */
export function writeAll(fd: number, s: string | Uint8Array): void {
  let buf = typeof s === "string" ? Buffer.from(s) : s;
  while (buf.length > 0) {
    let n: number;
    try {
      n = writeSync(fd, buf);
    } catch (e) {
      if (errnoName(e) === "EAGAIN") continue;
      checkPipe(e);
      throw e;
    }
    buf = buf.subarray(n);
  }
}

function emit(s: string): void {
  try {
    writeAll(2, s);
  } catch {
    // stderr gone: DJB's strerr ignores write errors too (unless SIGPIPE, see checkPipe, ended us first).
  }
}

// Verbosity, for the programs whose originals have a switch for it (tcpserver's and tcpclient's
// -q, -Q, -v): 0 prints no warnings or non-exiting fatal lines, 1 (the default) prints them, 2 adds
// the status lines of verbose(). die() and dieSys() always print, as strerr_die does; dieUsage() too
// unless told to be silent.
let verbosity = 1;

export function setVerbosity(level: number): void {
  verbosity = level;
}

export function getVerbosity(): number {
  return verbosity;
}

/** `prog: warning: parts...` */
export function warn(...parts: string[]): void {
  if (verbosity >= 1) emit(`${prog}: warning: ${parts.join("")}\n`);
}

/** `prog: warning: parts...: <error_str>` */
export function warnSys(err: unknown, ...parts: string[]): void {
  if (verbosity >= 1) emit(`${prog}: warning: ${parts.join("")}: ${errorStr(err)}\n`);
}

/** `prog: fatal: parts...`, without exiting: for a caller that cleans up or chooses its exit itself. */
export function fatal(...parts: string[]): void {
  if (verbosity >= 1) emit(`${prog}: fatal: ${parts.join("")}\n`);
}

/** `prog: fatal: parts...: <error_str>`, without exiting. */
export function fatalSys(err: unknown, ...parts: string[]): void {
  if (verbosity >= 1) emit(`${prog}: fatal: ${parts.join("")}: ${errorStr(err)}\n`);
}

/** `prog: info: parts...` */
export function info(...parts: string[]): void {
  if (verbosity >= 1) emit(`${prog}: info: ${parts.join("")}\n`);
}

/** `prog: parts...` at verbosity 2 (tcpserver's `status: 1/40`, `pid 123 from 10.0.0.1`). */
export function verbose(...parts: string[]): void {
  if (verbosity >= 2) emit(`${prog}: ${parts.join("")}\n`);
}

/** `prog: fatal: parts...`, then exit with code. */
export function die(code: number, ...parts: string[]): never {
  emit(`${prog}: fatal: ${parts.join("")}\n`);
  throw new Exit(code);
}

/** `prog: fatal: parts...: <error_str>`, then exit with code. */
export function dieSys(code: number, err: unknown, ...parts: string[]): never {
  emit(`${prog}: fatal: ${parts.join("")}: ${errorStr(err)}\n`);
  throw new Exit(code);
}

// The "unable to" family: daemontools' strerr_die4sys(111,FATAL,"unable to ",x,": "), qmail's
// die_*() functions, ucspi-tcp's strerr_die2sys(111,FATAL,"unable to ..."). The caller names only
// what could not be done; err, when given, adds ": " and its error_str() wording.

/** `unable to what`, or `unable to what: <error_str>` with err: for a caller that prints it its own way. */
export function unable(what: string, err?: unknown): string {
  return err === undefined ? `unable to ${what}` : `unable to ${what}: ${errorStr(err)}`;
}

/** `prog: fatal: unable to what[: <error_str>]`, then exit with code. */
export function dieUnable(code: number, what: string, err?: unknown): never {
  return die(code, unable(what, err));
}

/** `prog: fatal: unable to what[: <error_str>]`, without exiting (silent at verbosity 0, like fatal()). */
export function fatalUnable(what: string, err?: unknown): void {
  fatal(unable(what, err));
}

/** `prog: warning: unable to what[: <error_str>]` (silent at verbosity 0, like warn()). */
export function warnUnable(what: string, err?: unknown): void {
  warn(unable(what, err));
}

/** `prog: usage: text`, without exiting (envdir's usage exit is 111, not 100). */
export function usageLine(text: string): void {
  emit(`${prog}: usage: ${text}\n`);
}

/** `prog: usage: text`, exit 100. */
export function dieUsage(text: string, silent = false): never {
  if (!silent) usageLine(text);
  throw new Exit(EXIT_USAGE);
}

/** Prints raw text to stderr (no prefix), for programs with their own grammar. */
export function errWrite(s: string): void {
  emit(s);
}
