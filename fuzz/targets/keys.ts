/**
 * Text keys and values for structure-aware generation: the registry's keys with values of the
 * right shape and of the wrong one, CHAP items, and random names, so negotiation code gets both
 * plausible and hostile text.
 */
import fc from "fast-check";
import { KEY_REGISTRY } from "../../src/core/text/keys.js";

const NAMES = [...KEY_REGISTRY.keys()];

export const arbValue: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom("None", "CRC32C", "CRC32C,None", "None,CRC32C", "Yes", "No", "Reject", "Irrelevant", "NotUnderstood", "CHAP", "CHAP,None", "5", "7", "8,7,6,5"),
  fc.constantFrom("0", "1", "2", "20", "512", "8192", "65536", "262144", "16777215", "16777216", "4294967295", "-1", "0x10", "1e3", ""),
  fc.constantFrom("iqn.2026-11.test:disk", "iqn.2026-11.test:initiator", "127.0.0.1:3260,1", "[::1]:3260,1", "Normal", "Discovery", "All"),
  fc.string({ maxLength: 24 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => `0x${Buffer.from(b).toString("hex")}`),
  fc.uint8Array({ minLength: 1, maxLength: 48 }).map((b) => `0b${Buffer.from(b).toString("base64")}`),
);

export const arbKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...NAMES) },
  { weight: 2, arbitrary: fc.constantFrom("CHAP_A", "CHAP_I", "CHAP_C", "CHAP_N", "CHAP_R", "X-com.example.Key", "X#Foo", "TargetAddress", "TargetName") },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 70 }) },
);

export const arbPairs: fc.Arbitrary<Array<[string, string]>> = fc.array(fc.tuple(arbKey, arbValue), { maxLength: 12 });
