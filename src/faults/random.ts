/**
 * A small seeded generator (mulberry32) for the fault tools: the same seed gives the same bit
 * flips, cut points and workload, so a failing run can be replayed. Not for anything secret.
 */
import { LocalProtocolError } from "../core/errors.js";

export class SeededRandom {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    return this.nextU32() / 0x1_0000_0000;
  }

  /** An integer in [min, max] (both included). */
  int(min: number, max: number): number {
    if (max < min) return min;
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new LocalProtocolError("SeededRandom.pick: the list is empty");
    return items[this.int(0, items.length - 1)] as T;
  }

  /** A fresh generator whose seed is drawn from this one (for a sub-task that must not shift this stream). */
  fork(): SeededRandom {
    return new SeededRandom(this.nextU32());
  }
}
