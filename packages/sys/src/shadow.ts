// SPDX-License-Identifier: MIT
// getspnam(3) (libc, through NSS: /etc/shadow) and crypt(3) (libxcrypt's
// libcrypt.so.1, which knows yescrypt, SHA-512 and the older hashes), for
// checkpassword.
import { CString, dlopen, type Pointer, read } from "bun:ffi";
import { SysError } from "@qts/core/errstr";
import { clearErrno, errno, libc } from "./ffi.ts";

const c = libc({ getspnam: { args: ["ptr"], returns: "ptr" } });

let crypto: ReturnType<typeof open> | undefined;
function open() {
  return dlopen("libcrypt.so.1", { crypt: { args: ["ptr", "ptr"], returns: "ptr" } });
}

function cbytes(b: Uint8Array): Buffer {
  const out = Buffer.alloc(b.length + 1);
  out.set(b);
  return out;
}

/**
 * The stored hash of name in the shadow database (sp_pwdp, offset 8 of
 * struct spwd), as bytes; undefined when there is no entry. Throws SysError
 * when the database cannot be read (EACCES when not root).
 */
export function getspnam(name: Uint8Array): Buffer | undefined {
  const n = cbytes(name);
  clearErrno();
  const p = c().getspnam(n) as Pointer | null;
  n.fill(0);
  if (!p) {
    const e = errno();
    // not found is NULL with errno 0 or ENOENT; anything else is a failure to read the database
    if (e && e !== 2) throw new SysError("getspnam", e);
    return undefined;
  }
  const h = read.ptr(p, 8) as Pointer;
  return h ? Buffer.from(new CString(h).toString(), "latin1") : Buffer.alloc(0);
}

/**
 * crypt(key, setting): the hash of key with setting's method and salt (a
 * whole stored hash is a valid setting). undefined when crypt fails (an
 * unknown method, a malformed setting: libxcrypt returns NULL or a string
 * starting with "*"). The key's copy is zeroed before returning.
 */
export function crypt(key: Uint8Array, setting: Uint8Array): Buffer | undefined {
  crypto ??= open();
  const k = cbytes(key);
  const s = cbytes(setting);
  let p: Pointer | null;
  try {
    p = crypto.symbols.crypt(k, s) as Pointer | null;
  } finally {
    k.fill(0);
  }
  if (!p) return undefined;
  // latin1 keeps every byte of the result as one char (hashes are ASCII anyway)
  const r = new CString(p);
  const out = Buffer.from(r.toString(), "latin1");
  if (out.length === 0 || out[0] === 0x2a) return undefined;
  return out;
}
