/**
 * A CHAP secret. Its bytes leave this object only through `reveal()`: printing it, logging it,
 * serialising it or interpolating it into a message gives "[redacted]", so a secret cannot end up
 * in an error message or a log by accident.
 */
import { encodeUtf8 } from "../utf8.js";

const REDACTED = "[redacted]";

export class Secret {
  readonly #bytes: Uint8Array;

  private constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /** A secret given as text is used as its UTF-8 bytes (RFC 7143 §12.1.3 leaves the form to us). */
  static fromString(text: string): Secret {
    return new Secret(encodeUtf8(text));
  }

  /** A secret given as raw bytes (copied, so later changes to the caller's array do not leak in). */
  static fromBytes(bytes: Uint8Array): Secret {
    return new Secret(bytes.slice());
  }

  get length(): number {
    return this.#bytes.length;
  }

  /** The secret's bytes, for the hash input. Callers must not keep or print them. */
  reveal(): Uint8Array {
    return this.#bytes;
  }

  /** Constant-time comparison with another secret. */
  equals(other: Secret): boolean {
    return timingSafeEqual(this.#bytes, other.#bytes);
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return REDACTED;
  }

  get [Symbol.toStringTag](): string {
    return "Secret";
  }
}

/**
 * Compares two byte strings in time that depends only on their lengths: every byte is visited and
 * differences are OR-accumulated, with no early exit, so a CHAP response cannot be guessed byte by
 * byte from timing. Arrays of different lengths are unequal (lengths are not secret: the digest
 * length is known).
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  const n = Math.max(a.length, b.length);
  let diff = a.length ^ b.length;
  for (let i = 0; i < n; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}
