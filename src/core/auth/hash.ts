/**
 * Hash functions are injected by the host (Node: node:crypto createHash). The core only names them.
 */
export type HashAlgorithm = "md5" | "sha1" | "sha256" | "sha3-256";

export type HashFunction = (algorithm: HashAlgorithm, data: Uint8Array) => Uint8Array;

/** Random bytes from the host's CSPRNG. */
export type RandomBytes = (length: number) => Uint8Array;

/**
 * CHAP algorithm numbers (RFC 1994 and the IANA PPP "Authentication Algorithms" registry: 5 MD5,
 * 6 SHA-1, 7 SHA-256, 8 SHA3-256; RFC 7143 §12.1.3 negotiates them in CHAP_A).
 */
export const ChapAlgorithm = {
  MD5: 5,
  SHA1: 6,
  SHA256: 7,
  SHA3_256: 8,
} as const;
export type ChapAlgorithm = (typeof ChapAlgorithm)[keyof typeof ChapAlgorithm];

export interface ChapAlgorithmInfo {
  readonly number: ChapAlgorithm;
  readonly name: string;
  readonly hash: HashAlgorithm;
  readonly digestLength: number;
}

export const CHAP_ALGORITHMS: ReadonlyMap<number, ChapAlgorithmInfo> = new Map<number, ChapAlgorithmInfo>([
  [5, { number: 5, name: "MD5", hash: "md5", digestLength: 16 }],
  [6, { number: 6, name: "SHA-1", hash: "sha1", digestLength: 20 }],
  [7, { number: 7, name: "SHA-256", hash: "sha256", digestLength: 32 }],
  [8, { number: 8, name: "SHA3-256", hash: "sha3-256", digestLength: 32 }],
]);

export function isChapAlgorithm(n: number): n is ChapAlgorithm {
  return CHAP_ALGORITHMS.has(n);
}

/** Strongest first: what an initiator offers by default. */
export const DEFAULT_CHAP_ALGORITHMS: readonly ChapAlgorithm[] = [8, 7, 6, 5];
