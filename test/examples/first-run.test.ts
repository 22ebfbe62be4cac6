import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

describe("examples/first-run.mjs (the README's library walk-through)", () => {
  it("serves, discovers, logs in, writes and reads back identical data, and exits 0", async () => {
    expect(existsSync("dist/node/index.js"), "run `npm run build` first (npm test does)").toBe(true);
    const { stdout } = await run(process.execPath, ["examples/first-run.mjs"], { timeout: 60_000 });
    expect(stdout).toMatch(/^target iqn\.2026-11\.io\.iscsi-ts:example 127\.0\.0\.1:\d+,1$/m);
    expect(stdout).toMatch(/^capacity 67108864 bytes in 131072 blocks of 512$/m);
    expect(stdout).toMatch(/^read back identical$/m);
  });
});
