// SPDX-License-Identifier: MIT
// POSIX path joining as node:path's join, dirname and isAbsolute give it, same
// results, without loading node:path: each program is one bundle evaluated
// whole at start, and the module costs a start about 55 page faults
// (BENCHMARKS.md, "Start-up: lazy modules"). test/core/standins.test.ts compares
// both on many inputs.

/** "." and ".." resolved, runs of "/" made one; a trailing "/" kept; "" is ".". */
export function normalize(p: string): string {
  if (p === "") return ".";
  const abs = p.startsWith("/");
  const trailing = p.endsWith("/");
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg !== "..") out.push(seg);
    else if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
    else if (!abs) out.push(".."); // above the root is the root
  }
  let s = out.join("/");
  if (s === "") return abs ? "/" : trailing ? "./" : ".";
  if (trailing) s += "/";
  return abs ? `/${s}` : s;
}

/** The non-empty parts joined with "/", normalized; "." when none. */
export function join(...parts: string[]): string {
  const kept = parts.filter((p) => p !== "");
  return kept.length === 0 ? "." : normalize(kept.join("/"));
}

export function isAbsolute(p: string): boolean {
  return p.startsWith("/");
}

/** All but the last name: trailing "/"s ignored, the "/"s before the last name dropped but for one. */
export function dirname(p: string): string {
  if (p === "") return ".";
  const root = p.startsWith("/");
  let end = p.length;
  while (end > 1 && p[end - 1] === "/") end--; // trailing slashes
  while (end > 1 && p[end - 1] !== "/") end--; // the last name
  if (end <= 1) return root ? "/" : ".";
  // end - 1 is the slash before the last name: node:path keeps any slashes before it but that one
  if (root && end - 1 === 1) return "//";
  return p.slice(0, end - 1);
}
