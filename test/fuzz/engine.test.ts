/**
 * The fuzz engine catches what it is meant to catch: a target that throws something other than an
 * IscsiError, one that breaks an invariant, one that allocates in proportion to a length field it
 * read, and one that is slow; and it replays an input from its index.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RemoteProtocolError } from "../../src/core/errors.js";
import { InputSource, judge, runTarget } from "../../fuzz/engine.js";
import { type FuzzTarget, InvariantError, proportional } from "../../fuzz/target.js";

function fake(run: (input: Uint8Array) => void, extra: Partial<FuzzTarget> = {}): FuzzTarget {
  return {
    name: "fake",
    description: "a target for the engine's own tests",
    arbitrary: fc.uint8Array({ minLength: 4, maxLength: 64 }),
    seeds: () => [Uint8Array.of(1, 2, 3, 4)],
    allocationLimit: (input) => proportional(input),
    run,
    ...extra,
  };
}

describe("the fuzz engine", () => {
  it("accepts an IscsiError as a refusal and counts it by code", () => {
    const stats = runTarget(
      fake((input) => {
        if ((input[0] ?? 0) % 2 === 0) throw new RemoteProtocolError("even first byte");
      }),
      { seed: 1, inputs: 200 },
    );
    expect(stats.findings).toBe(0);
    expect(stats.refused["ISCSI_ERR_REMOTE_PROTOCOL"]).toBeGreaterThan(20);
    expect(stats.accepted + (stats.refused["ISCSI_ERR_REMOTE_PROTOCOL"] ?? 0)).toBe(200);
  });

  it("reports a TypeError as a finding, once per distinct message, with the input that caused it", () => {
    const found: Array<{ index: number; detail: string; input: Uint8Array }> = [];
    const target = fake((input) => {
      if (input.length > 10) void (undefined as unknown as { x: number }).x;
    });
    const stats = runTarget(target, { seed: 2, inputs: 300, onFinding: (f) => found.push(f) });
    expect(stats.findings).toBeGreaterThan(10);
    expect(stats.distinctFindings).toBe(1);
    expect(found[0]?.detail).toMatch(/^TypeError: Cannot read properties of undefined/);
    expect(found[0]?.input.length).toBeGreaterThan(10);
    // The finding replays from its index alone.
    expect(new InputSource(target, 2).input(found[0]?.index ?? 0).bytes).toEqual(found[0]?.input);
  });

  it("reports an allocation sized by a length field", () => {
    const target = fake((input) => {
      const claimed = ((input[0] ?? 0) << 16) | ((input[1] ?? 0) << 8) | (input[2] ?? 0);
      void new Uint8Array(claimed * 64);
    });
    const verdict = judge(target, Uint8Array.of(0xff, 0xff, 0xff, 0), 1000);
    expect(verdict).toMatchObject({ ok: false, kind: "allocation" });
    expect(judge(target, Uint8Array.of(0, 0, 1, 0), 1000)).toMatchObject({ ok: true });
    // Arrays count too.
    expect(judge(fake(() => void new Array(10_000_000)), Uint8Array.of(1), 1000)).toMatchObject({ ok: false, kind: "allocation" });
  });

  it("reports a broken invariant and a slow input", () => {
    expect(judge(fake(() => {
      throw new InvariantError("a request completed twice");
    }), Uint8Array.of(1), 1000)).toMatchObject({ ok: false, kind: "invariant", detail: "a request completed twice" });
    const slow = fake(() => {
      const until = performance.now() + 30;
      while (performance.now() < until);
    });
    expect(judge(slow, Uint8Array.of(1), 10)).toMatchObject({ ok: false, kind: "slow" });
  });

  it("runs the corpus seeds first, as they are", () => {
    const seen: Uint8Array[] = [];
    runTarget(fake((input) => void seen.push(input)), { seed: 3, inputs: 5 });
    expect(seen[0]).toEqual(Uint8Array.of(1, 2, 3, 4));
    expect(seen).toHaveLength(5);
  });

  it("restores the global constructors after each input, even when the input throws", () => {
    const before = globalThis.Uint8Array;
    judge(fake(() => {
      throw new TypeError("boom");
    }), Uint8Array.of(1), 1000);
    expect(globalThis.Uint8Array).toBe(before);
  });
});
