/**
 * Every input the fuzzer ever reported (fuzz/findings/*.bin, kept as a regression corpus) must now
 * be handled: refused with an IscsiError or accepted, in bounded time and memory, with the
 * target's invariants holding. A finding stays red here until the code is fixed
 * (see /work/notes/reliability-bugs.md).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FUZZ_DIR } from "../../fuzz/corpus.js";
import { judge } from "../../fuzz/engine.js";
import { targetNamed } from "../../fuzz/targets/index.js";

const DIR = join(FUZZ_DIR, "findings");
const NAME = /^(.+)-(exception|invariant|allocation|slow|hang|crash)-s\d+-i\d+\.bin$/;

function findingFiles(): string[] {
  try {
    return readdirSync(DIR).filter((f) => NAME.test(f)).sort();
  } catch {
    return [];
  }
}

describe("inputs the fuzzer reported", () => {
  it("name a known target each", () => {
    for (const file of findingFiles()) expect(targetNamed(NAME.exec(file)?.[1] ?? ""), file).toBeDefined();
  });

  it.each(findingFiles())("%s is handled now", (file) => {
    const target = targetNamed(NAME.exec(file)?.[1] ?? "");
    if (target === undefined) throw new Error(`test: no fuzz target for ${file}`);
    const verdict = judge(target, new Uint8Array(readFileSync(join(DIR, file))), 2_000);
    expect(verdict.ok ? "handled" : `${verdict.kind}: ${verdict.detail}`).toBe("handled");
  });
});
