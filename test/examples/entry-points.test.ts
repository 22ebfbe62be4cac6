import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

/** Imports through the package's own name, as a user's code would, from the built files. */
async function importByName(script: string): Promise<string> {
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], { timeout: 30_000 });
  return stdout.trim();
}

describe("the package's entry points (package.json exports)", () => {
  it("resolves iscsi-ts, iscsi-ts/core and iscsi-ts/target to what the README says they hold", async () => {
    expect(existsSync("dist/core/index.js"), "run `npm run build` first (npm test does)").toBe(true);
    const out = await importByName(`
      const lib = await import("iscsi-ts");
      const core = await import("iscsi-ts/core");
      const target = await import("iscsi-ts/target");
      console.log(JSON.stringify({
        lib: [typeof lib.openSession, typeof lib.discover],
        core: [typeof core.Session, typeof core.Connection, typeof core.encodePdu, typeof core.Framer, typeof core.parseIscsiUrl],
        crc: core.crc32c(new TextEncoder().encode("123456789")).toString(16),
        target: typeof target.startTarget,
      }));`);
    expect(JSON.parse(out)).toEqual({
      lib: ["function", "function"],
      core: ["function", "function", "function", "function", "function"],
      // RFC 3720 B.4's check value of CRC32C over "123456789".
      crc: "e3069283",
      target: "function",
    });
  });
});
