import { describe, expect, it } from "vitest";
import { IntMap } from "./int-map.js";

/** A seeded generator, so a failing sequence can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state;
  };
}

describe("the integer-keyed map", () => {
  it("agrees with a Map over a long random run of sets, gets and deletes", () => {
    const ours = new IntMap<string>();
    const theirs = new Map<number, string>();
    const next = random(42);
    const mismatches: string[] = [];
    const check = (what: string, a: unknown, b: unknown): void => {
      if (a !== b && mismatches.length < 5) mismatches.push(`${what}: ${String(a)} vs ${String(b)}`);
    };
    for (let step = 0; step < 200_000; step++) {
      const r = next();
      // Keys from a small range collide and cluster; some from the whole 32-bit range.
      const key = r % 7 === 0 ? next() : r % 300;
      switch (next() % 3) {
        case 0:
          ours.set(key, `v${step}`);
          theirs.set(key, `v${step}`);
          break;
        case 1:
          check(`delete ${key}`, ours.delete(key), theirs.delete(key));
          break;
        default:
          check(`get ${key}`, ours.get(key), theirs.get(key));
          check(`has ${key}`, ours.has(key), theirs.has(key));
      }
      check(`size at step ${step}`, ours.size, theirs.size);
    }
    expect(mismatches).toEqual([]);
    expect([...ours.values()]).toEqual([...theirs.values()]);
    expect([...ours.keys()]).toEqual([...theirs.keys()]);
  });

  it("gives the values in the order their keys were first set, as a Map does", () => {
    const map = new IntMap<number>();
    for (const key of [900, 3, 0xffff_fffe, 17, 64]) map.set(key, key);
    map.set(3, 3);
    map.delete(17);
    expect([...map.values()]).toEqual([900, 3, 0xffff_fffe, 64]);
    expect([...map.keys()]).toEqual([900, 3, 0xffff_fffe, 64]);
  });

  it("grows as entries pile up and keeps every one", () => {
    const map = new IntMap<number>(2);
    for (let key = 0; key < 5000; key++) map.set(key * 4096, key);
    expect(map.size).toBe(5000);
    for (let key = 0; key < 5000; key++) expect(map.get(key * 4096)).toBe(key);
  });

  it("finds the entries behind a deleted one in a run of keys that share a slot", () => {
    const map = new IntMap<string>(8);
    // Sequential tags taken and dropped one at a time: the use of the task and request tables.
    for (let tag = 1; tag < 10_000; tag++) {
      map.set(tag, "live");
      if (tag > 32) map.delete(tag - 32);
    }
    expect(map.size).toBe(32);
    for (let tag = 10_000 - 32; tag < 10_000; tag++) expect(map.get(tag)).toBe("live");
    expect(map.get(10_000 - 33)).toBeUndefined();
  });
});
