/**
 * Corpus seeds: files under fuzz/corpus/<dir>/ (`.bin` raw bytes, `.hex` hex text with `#`
 * comments, `.txt` UTF-8 text) and the fixtures the core's tests use (captures from tgtd and
 * libiscsi). A hex file yields its whole content as one seed and, when it has several data lines,
 * each line as a seed too (fixture files hold either one blob folded over lines, or one item a line).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const FUZZ_DIR = fileURLToPath(new URL(".", import.meta.url));
export const CORPUS_DIR = join(FUZZ_DIR, "corpus");
export const REPO_DIR = join(FUZZ_DIR, "..");

function hexToBytes(hex: string): Uint8Array | undefined {
  const clean = hex.replace(/\s+/g, "");
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) return undefined;
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function readHexFile(path: string): Uint8Array[] {
  const lines = readFileSync(path, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  const out: Uint8Array[] = [];
  const whole = hexToBytes(lines.join(""));
  if (whole !== undefined && whole.length > 0) out.push(whole);
  if (lines.length > 1) {
    for (const line of lines) {
      const bytes = hexToBytes(line);
      if (bytes !== undefined && bytes.length > 0) out.push(bytes);
    }
  }
  return out;
}

/** Every seed in a directory (absolute, or relative to the repository), filtered by file name. */
export function seedsIn(dir: string, accept: (name: string) => boolean = () => true): Uint8Array[] {
  const path = dir.startsWith("/") ? dir : join(REPO_DIR, dir);
  if (!existsSync(path)) return [];
  const seeds: Uint8Array[] = [];
  for (const name of readdirSync(path).sort()) {
    if (!accept(name)) continue;
    const file = join(path, name);
    if (name.endsWith(".hex")) seeds.push(...readHexFile(file));
    else if (name.endsWith(".bin")) seeds.push(new Uint8Array(readFileSync(file)));
    else if (name.endsWith(".txt")) seeds.push(new TextEncoder().encode(readFileSync(file, "utf8").replace(/\n$/, "")));
  }
  return seeds;
}

/** Seeds in fuzz/corpus/<name>/. */
export function corpus(name: string, accept?: (file: string) => boolean): Uint8Array[] {
  return seedsIn(join(CORPUS_DIR, name), accept);
}

/** The `.bin` files of fuzz/corpus/<name>/ with their names (when the name carries settings). */
export function corpusFiles(name: string): Array<{ readonly file: string; readonly bytes: Uint8Array }> {
  const dir = join(CORPUS_DIR, name);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".bin"))
    .sort()
    .map((file) => ({ file, bytes: new Uint8Array(readFileSync(join(dir, file))) }));
}

/** Memoizes a seed loader: files are read once per process. */
export function once<T>(load: () => T): () => T {
  let value: T | undefined;
  let loaded = false;
  return () => {
    if (!loaded) {
      value = load();
      loaded = true;
    }
    return value as T;
  };
}
