/**
 * The target's protocol engine keeps the core's sans-I/O rules (ESLint enforces them for
 * src/core only): no Node modules, no sockets, no timers, no clock, no randomness of its own.
 * This test reads the engine's sources (and the hostile layer and the host-free backends) and
 * fails on any of them.
 */
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = new URL("..", import.meta.url).pathname;

const FORBIDDEN: ReadonlyArray<readonly [RegExp, string]> = [
  [/from\s+["']node:/, "a node: import"],
  [/from\s+["'](fs|net|crypto|os|timers|events|stream|buffer|util|path|child_process)(\/[^"']*)?["']/, "a Node built-in import"],
  [/from\s+["'](\.\.\/)+node\//, "an import of the Node host"],
  // "Buffer Offset" is an RFC field name (in messages), not Node's Buffer.
  [/\bBuffer\b(?!\s+Offset)/, "Buffer"],
  [/\b(setTimeout|setInterval|setImmediate|clearTimeout|clearInterval|queueMicrotask)\s*\(/, "a timer"],
  [/\bDate\.now\b|\bnew Date\b|\bperformance\./, "a clock"],
  [/\bMath\.random\b|\bcrypto\./, "randomness"],
  [/\bprocess\./, "process"],
];

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts") && !entry.name.endsWith(".test-util.ts")) out.push(path);
  }
  return out;
}

/** Source without comments, so a comment may name what the code must not use. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
}

describe("the target engine is sans-I/O", () => {
  it("uses no Node module, socket, timer, clock or randomness in src/target/engine, src/target/hostile and the memory/null backends", async () => {
    const files = [
      ...(await sources(join(ROOT, "engine"))),
      ...(await sources(join(ROOT, "hostile"))),
      ...["backend.ts", "memory.ts", "null.ts", "spec.ts"].map((f) => join(ROOT, "backends", f)),
    ];
    expect(files.length).toBeGreaterThan(15);
    const violations: string[] = [];
    for (const file of files) {
      const text = code(await readFile(file, "utf8"));
      for (const [pattern, what] of FORBIDDEN) if (pattern.test(text)) violations.push(`${relative(ROOT, file)}: ${what}`);
    }
    expect(violations).toEqual([]);
  });
});
