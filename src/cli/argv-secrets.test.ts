import { readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The modules a module loads before its first line runs: its static imports, transitively (type-only ones excluded). */
function staticGraph(file: string, seen = new Set<string>()): Set<string> {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = readFileSync(file, "utf8");
  for (const m of text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?\sfrom\s+"(\.[^"]+)";/gms)) {
    staticGraph(join(dirname(file), (m[1] as string).replace(/\.js$/, ".ts")), seen);
  }
  for (const m of text.matchAll(/^import\s+"(\.[^"]+)";/gm)) staticGraph(join(dirname(file), (m[1] as string).replace(/\.js$/, ".ts")), seen);
  return seen;
}

describe("the iscsi entry", () => {
  it("loads only the secret masking and the URL parser before it masks the process title: the rest comes after", () => {
    const graph = [...staticGraph(join(SRC, "cli/main.ts"))].map((f) => relative(SRC, f)).sort();
    expect(graph).toEqual(["cli/argv-secrets.ts", "cli/main.ts", "core/errors.ts", "core/url.ts"]);
    expect(readFileSync(join(SRC, "cli/main.ts"), "utf8")).toMatch(/hideSecretsFromProcessTitle\([\s\S]*\);\s*\n\s*await import\("\.\/run\.js"\);/);
  });
});
