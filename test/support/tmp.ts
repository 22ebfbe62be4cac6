/**
 * Temporary directories for tests and peers (backing files, captures, copies). Each is removed
 * when its owner is done, and any left over is removed when the test process exits, unless
 * ISCSI_TS_KEEP_TMP=1 is set to keep them for a post-mortem (their paths are then printed).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach } from "vitest";
import { HarnessError } from "./errors.js";

const keep = process.env["ISCSI_TS_KEEP_TMP"] === "1";

/**
 * Directories not yet removed. Process-wide on purpose: the exit hook must find every one,
 * whichever test made it.
 */
const pending = new Set<string>();
let exitHookInstalled = false;

function track(path: string): void {
  pending.add(path);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const dir of pending) {
      if (keep) console.error(`kept temporary directory ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
    }
  });
}

export interface TempDir {
  readonly path: string;
  /** `name` inside this directory. */
  file(name: string): string;
  /** Removes the directory and everything in it (kept if ISCSI_TS_KEEP_TMP=1). */
  remove(): Promise<void>;
}

function tempDir(path: string): TempDir {
  track(path);
  return {
    path,
    file: (name) => join(path, name),
    remove: async () => {
      if (!pending.delete(path)) return;
      if (keep) console.error(`kept temporary directory ${path}`);
      else await rm(path, { recursive: true, force: true });
    },
  };
}

/** A new empty directory under the system's temporary directory. */
export async function makeTempDir(prefix = "iscsi-ts-"): Promise<TempDir> {
  return tempDir(await mkdtemp(join(tmpdir(), prefix)));
}

/** As `makeTempDir`, synchronously (for constructors). */
export function makeTempDirSync(prefix = "iscsi-ts-"): TempDir {
  return tempDir(mkdtempSync(join(tmpdir(), prefix)));
}

/** Runs `body` with a fresh directory and removes it afterwards, whether `body` threw or not. */
export async function withTempDir<T>(body: (dir: TempDir) => Promise<T>, prefix?: string): Promise<T> {
  const dir = await makeTempDir(prefix);
  try {
    return await body(dir);
  } finally {
    await dir.remove();
  }
}

/**
 * Gives every test in the calling suite a fresh directory, removed after the test. Call at
 * suite level; the returned function gives the current test's directory.
 */
export function useTempDir(prefix?: string): () => TempDir {
  let current: TempDir | undefined;
  beforeEach(async () => {
    current = await makeTempDir(prefix);
  });
  afterEach(async () => {
    await current?.remove();
    current = undefined;
  });
  return () => {
    if (current === undefined) {
      throw new HarnessError("PEER_ERR_USAGE", "useTempDir(): the directory exists only while a test runs");
    }
    return current;
  };
}
