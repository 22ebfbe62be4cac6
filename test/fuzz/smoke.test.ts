/**
 * A short fuzz run inside `npm test`: every target (framer, decoder, text codec, SendTargets,
 * both login machines, the initiator session, the URL parser, every SCSI parser) gets its share of
 * 20,000 inputs from a fixed seed, corpus seeds first. Any finding fails the test with the input's
 * index and the line that replays it. The long run is `npx tsx fuzz/run.ts --inputs 1000000`.
 */
import { describe, expect, it } from "vitest";
import { type Finding, runTarget } from "../../fuzz/engine.js";
import { shares } from "../../fuzz/plan.js";
import { TARGETS } from "../../fuzz/targets/index.js";

const SEED = 20261101;
const TOTAL = 20_000;
const plan = shares(TARGETS, TOTAL);

describe("fuzzing, short run", () => {
  it("has a corpus captured from real peers for the framer, the decoder, the logins and the session", () => {
    for (const name of ["framer", "decode", "login-initiator", "login-target", "session", "text"]) {
      expect(TARGETS.find((t) => t.name === name)?.seeds().length, name).toBeGreaterThan(5);
    }
  });

  it.each([...plan].map(([target, inputs]) => [target.name, target, inputs] as const))(
    "%s: throws only IscsiErrors, in bounded time and memory",
    (_name, target, inputs) => {
      const findings: Finding[] = [];
      const stats = runTarget(target, { seed: SEED, inputs, slowMs: 500, onFinding: (f) => findings.push(f) });
      const described = findings.map(
        (f) => `${f.kind} at input ${f.index}: ${f.detail} (replay: npx tsx fuzz/run.ts --target ${f.target} --seed ${SEED} --index ${f.index})`,
      );
      expect(described).toEqual([]);
      expect(stats.inputs).toBe(inputs);
    },
    60_000,
  );
});
