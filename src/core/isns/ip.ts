/**
 * iSNS carries every IP address as 16 bytes (RFC 4171 §6.3.1): IPv6 as is, IPv4 as an
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d, RFC 4291 §2.5.5.2).
 */
import { ConfigError } from "../errors.js";

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseIpv4(text: string): number[] | undefined {
  const m = IPV4.exec(text);
  if (m === null) return undefined;
  const parts = m.slice(1, 5).map(Number);
  return parts.every((p) => p <= 255) ? parts : undefined;
}

/** `a.b.c.d` or an IPv6 address (`::1`, `fe80::1`, `::ffff:10.0.0.1`) as iSNS's 16 bytes. */
export function encodeIpAddress(text: string): Uint8Array {
  const out = new Uint8Array(16);
  const v4 = parseIpv4(text);
  if (v4 !== undefined) {
    out[10] = 0xff;
    out[11] = 0xff;
    out.set(v4, 12);
    return out;
  }
  const bad = (): never => {
    throw new ConfigError(`"${text}" is not an IP address (iSNS registers addresses, not host names)`);
  };
  const address = text.replace(/%.*$/, "");
  if (!/^[0-9a-fA-F:.]+$/.test(address)) bad();
  const halves = address.split("::");
  if (halves.length > 2) bad();
  const groups = (part: string): number[] => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    pieces.forEach((piece, i) => {
      const tail = i === pieces.length - 1 ? parseIpv4(piece) : undefined;
      if (tail !== undefined) {
        out.push((tail[0]! << 8) | tail[1]!, (tail[2]! << 8) | tail[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
        out.push(parseInt(piece, 16));
      } else {
        bad();
      }
    });
    return out;
  };
  const head = groups(halves[0] ?? "");
  const tail = halves.length === 2 ? groups(halves[1] ?? "") : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) bad();
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  all.forEach((g, i) => {
    out[i * 2] = g >>> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

/** The 16 bytes back to text: dotted for an IPv4-mapped address, RFC 5952 form otherwise. */
export function decodeIpAddress(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new RangeError(`an iSNS IP address is 16 bytes, not ${bytes.length}`);
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // The longest run of two or more zero groups becomes "::" (the first such run on a tie).
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(":");
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLength))}`;
}
