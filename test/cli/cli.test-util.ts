/**
 * Runs the real `iscsi` binary (dist/cli/main.js, built by `npm run build`) as a child process,
 * the way a user runs it, and checks the shape of its failures: one line on stderr, `iscsi: `
 * first, no stack trace.
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { checkOk, runCommand, spawnTracked, type RunResult, type TrackedProcess } from "../support/processes.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const MAIN = join(ROOT, "dist", "cli", "main.js");

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts")) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Builds dist/ when it is missing or older than src/ (`npm test` builds first; a lone
 * `vitest run --project interop test/cli` may not have).
 */
export async function ensureBuilt(): Promise<void> {
  let built = 0;
  try {
    built = statSync(MAIN).mtimeMs;
  } catch {
    built = 0;
  }
  if (built > 0 && built >= newestSource(join(ROOT, "src"))) return;
  const result = await runCommand("npm", ["run", "build", "--silent"], { cwd: ROOT, timeoutMs: 180_000 });
  // tsc emits even when some other module fails to type-check; a binary that exists is tested
  // (and a type error is the lint step's to report), one that does not is a failure here.
  let exists = false;
  try {
    exists = statSync(MAIN).mtimeMs > 0;
  } catch {
    exists = false;
  }
  if (!exists) checkOk(result);
}

export interface IscsiRunOptions {
  /** Variables over the test's environment; undefined removes one. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly input?: string | Uint8Array;
  readonly timeoutMs?: number;
  readonly stopAfterMs?: number;
}

/** CHAP variables of the test's own environment are removed, so a run sees only what it is given. */
const CLEAN_ENV: Record<string, undefined> = {
  ISCSI_CHAP_USERNAME: undefined,
  ISCSI_CHAP_SECRET: undefined,
  ISCSI_CHAP_TARGET_USERNAME: undefined,
  ISCSI_CHAP_TARGET_SECRET: undefined,
  LIBISCSI_CHAP_USERNAME: undefined,
  LIBISCSI_CHAP_PASSWORD: undefined,
  LIBISCSI_CHAP_TARGET_USERNAME: undefined,
  LIBISCSI_CHAP_TARGET_PASSWORD: undefined,
  ISCSI_TARGET_CHAP_SECRET: undefined,
  ISCSI_TARGET_MUTUAL_SECRET: undefined,
};

/**
 * `iscsi ARGS...`. Output is returned unmasked (no `secrets` given to the harness), so a test can
 * check that a secret does not appear in it.
 */
export function iscsi(args: readonly string[], options: IscsiRunOptions = {}): Promise<RunResult> {
  return runCommand(process.execPath, [MAIN, ...args], {
    env: { ...CLEAN_ENV, ...options.env },
    timeoutMs: options.timeoutMs ?? 60_000,
    ...(options.input === undefined ? {} : { input: options.input }),
    ...(options.stopAfterMs === undefined ? {} : { stopAfterMs: options.stopAfterMs }),
  });
}

/** Quotes one word for sh. */
export function quote(word: string): string {
  return `'${word.replace(/'/g, "'\\''")}'`;
}

/** The command line of `iscsi ARGS...` for a shell pipeline. */
export function iscsiCommand(args: readonly string[]): string {
  return [process.execPath, MAIN, ...args].map(quote).join(" ");
}

/** `iscsi ARGS...` left running (a target, a slow ping). */
export function spawnIscsi(args: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): TrackedProcess {
  return spawnTracked(process.execPath, [MAIN, ...args], { env: { ...CLEAN_ENV, ...env } });
}

/** The run succeeded; on failure, the message shows what it printed. */
export function expectOk(result: RunResult): RunResult {
  expect(result.code, `${result.command}\nstderr: ${result.stderr}\nstdout: ${result.stdout.slice(0, 2000)}`).toBe(0);
  return result;
}

/** `iscsi ... --json`: the one document on stdout, parsed. */
export function jsonOf<T = Record<string, unknown>>(result: RunResult): T {
  const text = result.stdout.trim();
  expect(text.startsWith("{"), `not one JSON document: ${text.slice(0, 200)}`).toBe(true);
  return JSON.parse(text) as T;
}

/**
 * The run failed with `code`, and stderr is exactly one line (`iscsi: ...`, matching `pattern`)
 * with no stack trace. Returns the line.
 */
export function expectFailure(result: RunResult, code: number, pattern: RegExp): string {
  const lines = result.stderr.split("\n").filter((l) => l.trim() !== "");
  expect(lines, `${result.command} printed ${lines.length} lines on stderr:\n${result.stderr}`).toHaveLength(1);
  const line = lines[0] ?? "";
  expect(line).toMatch(/^iscsi: /);
  expect(line).toMatch(pattern);
  expect(result.stderr).not.toMatch(/^\s+at /m);
  expect(result.code, `${result.command}: ${line}`).toBe(code);
  return line;
}
