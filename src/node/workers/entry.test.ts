import { describe, expect, it } from "vitest";
import { workerEntry, workerExecArgv } from "./entry.js";

describe("how the pool starts a worker", () => {
  it("starts worker.ts under tsx's loader when run from the TypeScript sources (as here)", () => {
    const entry = workerEntry();
    expect(entry.eval).toBe(true);
    expect(String(entry.script)).toContain("/src/node/workers/worker.ts");
    expect(String(entry.script)).toMatch(/tsx\/dist\/esm\/api\/index\.mjs/);
  });

  it("passes the parent's Node options on, except those of the main script that a worker refuses", () => {
    expect(workerExecArgv(["--input-type=module", "-e", "code()", "--max-old-space-size=512"])).toEqual(["--max-old-space-size=512"]);
    expect(workerExecArgv(["--input-type", "module", "--eval", "x", "--import", "tsx"])).toEqual(["--import", "tsx"]);
    expect(workerExecArgv(["-p", "1+1", "--cpu-prof", "--check"])).toEqual(["--cpu-prof"]);
    expect(workerExecArgv([])).toEqual([]);
  });
});
