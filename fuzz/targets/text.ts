/** The text codec (parseText, TextAccumulator over split segments) and parseSendTargetsResponse. */
import fc from "fast-check";
import { parseSendTargetsResponse } from "../../src/core/discovery/send-targets.js";
import { parseText, TextAccumulator } from "../../src/core/text/codec.js";
import { corpus, once } from "../corpus.js";
import { concat } from "../mutate.js";
import { chunks, randomFor, split, textBytes, withConfig } from "../stream.js";
import { type FuzzTarget, proportional } from "../target.js";
import { arbPairs, arbValue } from "./keys.js";

const ACCUMULATOR_BOUNDS = [256, 8192, 65536] as const;
const REPEATABLE = new Set(["TargetName", "TargetAddress"]);

export const textTarget: FuzzTarget = {
  name: "text",
  description: "parseText of a whole data segment, or TextAccumulator over segments under a byte bound",
  arbitrary: withConfig(fc.integer({ min: 0, max: 255 }), () => arbPairs.map((pairs) => textBytes(pairs))),
  seeds: once(() => corpus("text").flatMap((t) => [concat([Uint8Array.of(0x00), t]), concat([Uint8Array.of(0xdc), t])])),
  allocationLimit: (input) => proportional(input, 8),
  run(input) {
    const { config, payload } = split(input);
    const repeatable = (config & 0x40) !== 0 ? REPEATABLE : undefined;
    if ((config & 0x80) === 0) {
      parseText(payload, repeatable === undefined ? {} : { repeatable });
      return;
    }
    const accumulator = new TextAccumulator({ maxBytes: ACCUMULATOR_BOUNDS[config % 3], where: "fuzz" });
    for (const segment of chunks(payload, (config >> 2) & 7, randomFor(input))) accumulator.append(segment);
    accumulator.finish(repeatable === undefined ? {} : { repeatable });
  },
};

const arbTarget = fc.tuple(
  fc.oneof(fc.constantFrom("iqn.2026-11.test:disk", "iqn.2026-11.test.a:b"), fc.string({ maxLength: 30 })),
  fc.array(fc.oneof(fc.constantFrom("127.0.0.1:3260,1", "[::1]:3261,2", "host.example:3260", "10.0.0.1,1", "[fe80::1%eth0]:3260,1"), arbValue), { maxLength: 3 }),
);

export const sendTargetsTarget: FuzzTarget = {
  name: "send-targets",
  description: "parseSendTargetsResponse of a Text Response data segment",
  arbitrary: fc.array(arbTarget, { maxLength: 5 }).map((targets) =>
    textBytes(targets.flatMap(([name, addresses]) => [["TargetName", name] as const, ...addresses.map((a) => ["TargetAddress", a] as const)])),
  ),
  seeds: once(() => corpus("send-targets")),
  allocationLimit: (input) => proportional(input, 8),
  run(input) {
    parseSendTargetsResponse(input);
  },
};
