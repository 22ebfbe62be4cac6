/**
 * What a fuzz target is. Every input is bytes (a structured input is encoded: a PDU stream, a
 * config byte then a payload), so any input can be mutated, saved to fuzz/findings/ and replayed.
 */
import type fc from "fast-check";

export interface FuzzTarget {
  readonly name: string;
  /** What is fed to what, in one line. */
  readonly description: string;
  /** Structure-aware inputs (valid or nearly valid); mutation works from these and the seeds too. */
  readonly arbitrary: fc.Arbitrary<Uint8Array>;
  /** Corpus seeds: captures from real peers, fixtures, hand-written inputs. Loaded once. */
  seeds(): readonly Uint8Array[];
  /**
   * The largest single allocation (bytes) the code may make for this input: what the input
   * itself justifies plus the negotiated limits the target configured, never a length field.
   */
  allocationLimit(input: Uint8Array): number;
  /** Feeds one input; throws whatever the code under test throws. */
  run(input: Uint8Array): void;
}

/** Bytes a target may always allocate whatever the input: small fixed buffers. */
export const BASE_ALLOWANCE = 64 * 1024;

/** The usual limit: a fixed allowance plus a few times the input. */
export function proportional(input: Uint8Array, times = 4, extra = 0): number {
  return BASE_ALLOWANCE + times * input.length + extra;
}

/** A property of the code under test that does not hold (not an exception it threw on its own). */
export class InvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvariantError";
  }
}
