// SPDX-License-Identifier: MIT
// dknewkey: makes a DKIM key for qmail-dkim(8) unless the file exists, and prints the DNS TXT record
// to publish for it (dknewkey(8)), as the qmail-dkim patches' script of that name does.
import { generateKeyPairSync } from "node:crypto";
import { basename, dirname, resolve } from "node:path";
import { die, dieUnable, dieUsage, setProg, writeAll } from "@qts/core/die";
import { EXIT_TEMP } from "@qts/core/exit";
import { getopt } from "@qts/core/getopt";
import type { Env } from "@qts/core/run";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from "@qts/sys/fs";
import { readKey, txtZoneLine } from "../lib/dkim/dkim.ts";

export const usage = "dknewkey [ -t rsa|ed25519 ] [ -b bits ] [ -d domain ] keyfile";

interface Options {
  type: "rsa" | "ed25519";
  bits: number;
  domain: string | undefined;
  file: string;
}

function options(argv: string[]): Options {
  const o: Options = { type: "rsa", bits: 2048, domain: undefined, file: "" };
  const { opts, rest } = getopt(argv, "t:b:d:");
  for (const { opt, arg = "" } of opts) {
    if (opt === "t" && (arg === "rsa" || arg === "ed25519")) o.type = arg;
    else if (opt === "b" && /^[0-9]+$/.test(arg) && Number(arg) >= 1024 && Number(arg) <= 8192) o.bits = Number(arg);
    else if (opt === "d" && arg) o.domain = arg;
    else dieUsage(usage);
  }
  const file = rest[0];
  if (file === undefined || rest.length > 1) dieUsage(usage);
  o.file = file;
  return o;
}

// Writes a new private key to path, which does not exist yet.
function newKey(path: string, type: Options["type"], bits: number): void {
  const pair =
    type === "ed25519"
      ? generateKeyPairSync("ed25519")
      : generateKeyPairSync("rsa", { modulusLength: bits, publicExponent: 65537 });
  const pem = pair.privateKey.export({ format: "pem", type: "pkcs8" }) as string;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // Only the signing uid may read it (qmail-dkim refuses a key that group or others can).
    const fd = openSync(path, "wx", 0o600);
    writeSync(fd, pem);
    closeSync(fd);
  } catch (e) {
    dieUnable(EXIT_TEMP, `write ${path}`, e);
  }
}

export function main(argv: string[], _env: Env): number {
  setProg("dknewkey");
  const { type, bits, domain: given, file } = options(argv);
  const path = resolve(file);
  // control/domainkeys/DOMAIN/SELECTOR: the directory names the domain, the file the selector.
  const domain = given ?? basename(dirname(path));
  if (!existsSync(path)) newKey(path, type, bits);
  let text: Buffer;
  try {
    text = readFileSync(path);
  } catch (e) {
    dieUnable(EXIT_TEMP, `read ${path}`, e);
  }
  let line: string;
  try {
    line = txtZoneLine(basename(path), domain, readKey(text));
  } catch {
    die(EXIT_TEMP, `unable to parse key ${path}`);
  }
  writeAll(1, line);
  return 0;
}
