// SPDX-License-Identifier: MIT
// IPv6 addresses as text and as 16 bytes: the reading of RFC 4291 section 2.2 and the writing of
// ucspi-tcp-ipv6's ip6_fmt (the form tcpserver puts in TCP6REMOTEIP and tcprules keys are matched on).

/** A dotted quad, four decimal octets 0..255 with nothing around them; undefined otherwise. */
export function scan4(s: string): Uint8Array | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] as string;
    if (!/^[0-9]{1,3}$/.test(p) || Number(p) > 255) return undefined;
    out[i] = Number(p);
  }
  return out;
}

/**
 * An IPv6 address in RFC 4291 section 2.2 text form (x:x:x:x:x:x:x:x, at most one "::", an optional
 * dotted-quad tail), as 16 bytes; undefined for anything else ("1::2::3", "12345::", "fe80::1%eth0").
 */
export function scan6(s: string): Uint8Array | undefined {
  if (s.length === 0 || s.length > 45) return undefined;
  let tail: Uint8Array | undefined;
  let text = s;
  const lastColon = s.lastIndexOf(":");
  if (s.indexOf(".", lastColon) >= 0) {
    tail = scan4(s.slice(lastColon + 1));
    if (!tail) return undefined;
    // keep the colon(s) before the quad: "::1.2.3.4" -> "::", "1:2:3:4:5:6:1.2.3.4" -> "1:2:3:4:5:6:"
    text = s.slice(0, lastColon + 1);
    if (!text.endsWith("::")) text = text.slice(0, -1);
  }
  const want = tail ? 6 : 8;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const group = (g: string) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? Number.parseInt(g, 16) : -1);
  const side = (t: string): number[] | undefined => {
    if (t === "") return [];
    const gs = t.split(":").map(group);
    return gs.includes(-1) ? undefined : gs;
  };
  const left = side(halves[0] as string);
  const right = halves.length === 2 ? side(halves[1] as string) : [];
  if (!left || !right) return undefined;
  let groups: number[];
  if (halves.length === 2) {
    const fill = want - left.length - right.length;
    if (fill < 1) return undefined;
    groups = [...left, ...new Array<number>(fill).fill(0), ...right];
  } else {
    if (left.length !== want) return undefined;
    groups = left;
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 255;
  });
  if (tail) out.set(tail, 12);
  return out;
}

export function isV4Mapped(ip: Uint8Array): boolean {
  if (ip.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (ip[i] !== 0) return false;
  return ip[10] === 0xff && ip[11] === 0xff;
}

/** ::ffff:a.b.c.d for an IPv4 address. */
export function mapV4(ip: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(ip, 12);
  return out;
}

export function fmt4(ip: Uint8Array): string {
  return `${ip[0]}.${ip[1]}.${ip[2]}.${ip[3]}`;
}

/** The first longest run of zero groups: [start group, length], [-1, 0] for none. */
function longestZeros(ip: Uint8Array): [number, number] {
  const zero = (k: number) => ip[2 * k] === 0 && ip[2 * k + 1] === 0;
  let best = -1;
  let bestLen = 0;
  for (let k = 0; k < 8; ) {
    if (!zero(k)) {
      k++;
      continue;
    }
    let e = k;
    while (e < 8 && zero(e)) e++;
    if (e - k > bestLen) {
      best = k;
      bestLen = e - k;
    }
    k = e;
  }
  return [best, bestLen];
}

/**
 * ip6_fmt: lower-case hex groups without leading zeros; the longest run of zero groups (the first of
 * equal runs, even a run of one) becomes "::"; a v4-mapped address ends in its dotted quad. As
 * Debian's ucspi-tcp-ipv6 writes them: "1::1:0:1:0:1:0", "::ffff:127.0.0.1", "::102:304".
 */
export function fmt6(ip: Uint8Array): string {
  const [best, bestLen] = longestZeros(ip);
  let out = "";
  for (let k = 0; k < 8; k++) {
    if (k === 6 && isV4Mapped(ip)) return out + fmt4(ip.subarray(12));
    if (k === best) {
      out += k === 0 ? "::" : ":";
      k += bestLen - 1;
      continue;
    }
    out += (((ip[2 * k] as number) << 8) | (ip[2 * k + 1] as number)).toString(16);
    if (k < 7) out += ":";
  }
  return out;
}

/** An address of either family as tcpserver writes it: dotted quad for 4 bytes, ip6_fmt for 16. */
export function fmtIp(ip: Uint8Array): string {
  return ip.length === 4 ? fmt4(ip) : fmt6(ip);
}
