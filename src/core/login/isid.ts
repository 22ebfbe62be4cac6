/**
 * RFC 7143 §11.12.5 ISID: 6 bytes, T (2 bits) | A (6 bits) | B (16 bits) | C (8 bits) | D (16 bits).
 * With T = 10b ("Random"), A is reserved (0), B and C hold a 24-bit random qualifier, D is a
 * qualifier the initiator may use to tell its sessions apart.
 */
import type { RandomBytes } from "../auth/hash.js";
import { ConfigError } from "../errors.js";

export const ISID_TYPE_RANDOM = 0b10;

/** A random-type ISID as the 48-bit number PDUs carry (pdu/types.ts). */
export function makeIsid(randomBytes: RandomBytes, qualifier = 0): number {
  if (!Number.isInteger(qualifier) || qualifier < 0 || qualifier > 0xffff) throw new ConfigError(`ISID qualifier ${qualifier} is outside 0..65535`);
  const r = randomBytes(3);
  if (r.length !== 3) throw new ConfigError(`randomBytes(3) returned ${r.length} bytes`);
  const random24 = ((r[0] as number) << 16) | ((r[1] as number) << 8) | (r[2] as number);
  // T=10b, A=0 in the top byte; 2^40 is a factor of the top byte (48-bit value, exact in a double).
  return (ISID_TYPE_RANDOM << 6) * 2 ** 40 + random24 * 2 ** 16 + qualifier;
}

export interface IsidParts {
  readonly type: number;
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly d: number;
}

export function splitIsid(isid: number): IsidParts {
  const top = Math.floor(isid / 2 ** 40);
  return {
    type: top >> 6,
    a: top & 0x3f,
    b: Math.floor(isid / 2 ** 24) % 0x10000,
    c: Math.floor(isid / 2 ** 16) % 0x100,
    d: isid % 0x10000,
  };
}
