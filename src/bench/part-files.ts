import { writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * Writes a bench part's results as `<stamp>-<part>.json` and `.md` into `outDir`, for each stamp
 * (a full run also writes them as "latest"); returns the files written.
 */
export async function writePartFiles(outDir: string, stamps: readonly string[], part: string, results: unknown, markdown: string): Promise<string[]> {
  const files: string[] = [];
  for (const stamp of stamps) {
    for (const [name, body] of [
      [`${stamp}-${part}.json`, `${JSON.stringify(results, null, 2)}\n`],
      [`${stamp}-${part}.md`, markdown],
    ] as const) {
      await writeFile(join(outDir, name), body);
      files.push(join(outDir, name));
    }
  }
  return files;
}
