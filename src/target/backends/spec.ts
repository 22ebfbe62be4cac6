/**
 * Backend specifications as users write them: `mem:256M`, `null:1T`, `file:/path/disk.img`
 * (or a bare path), or the same as an object. Sizes take binary suffixes K, M, G, T, P (KiB, ...,
 * with or without "iB"/"B"); a bare number is bytes.
 */
import { ConfigError } from "../../core/errors.js";

export type BackendSpec =
  | { readonly kind: "mem"; readonly size: number }
  | { readonly kind: "null"; readonly size: number }
  | {
      readonly kind: "file";
      readonly path: string;
      readonly size?: number;
      readonly create?: boolean;
      readonly readOnly?: boolean;
      readonly thinProvisioned?: boolean;
    };

const UNITS: Readonly<Record<string, number>> = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40, P: 2 ** 50 };

/** "256M" -> 268435456; throws ConfigError for anything that is not a size. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:i?B)?\s*$/i.exec(text);
  if (m === null) throw new ConfigError(`"${text}" is not a size (examples: 512, 64M, 1.5G, 1T)`);
  const bytes = Number(m[1]) * (UNITS[(m[2] ?? "").toUpperCase()] ?? 1);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new ConfigError(`"${text}" is not a whole, positive number of bytes`);
  return bytes;
}

export function formatSize(bytes: number): string {
  for (const [suffix, unit] of [["P", 2 ** 50], ["T", 2 ** 40], ["G", 2 ** 30], ["M", 2 ** 20], ["K", 2 ** 10]] as const) {
    if (bytes >= unit && bytes % unit === 0) return `${bytes / unit}${suffix}iB`;
  }
  return `${bytes} bytes`;
}

export function parseBackendSpec(text: string): BackendSpec {
  const colon = text.indexOf(":");
  const scheme = colon < 0 ? "" : text.slice(0, colon);
  const rest = colon < 0 ? text : text.slice(colon + 1);
  switch (scheme) {
    case "mem":
      return { kind: "mem", size: parseSize(rest) };
    case "null":
      return { kind: "null", size: parseSize(rest) };
    case "file":
      if (rest === "") throw new ConfigError(`"${text}": file: needs a path`);
      return { kind: "file", path: rest };
    default:
      if (text.startsWith("/") || text.startsWith(".")) return { kind: "file", path: text };
      throw new ConfigError(`"${text}" is not a backend: use mem:<size>, null:<size> or file:<path>`);
  }
}
