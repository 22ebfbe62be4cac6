/**
 * Files written so that a crash or a full disk leaves either the old content or the new, never a
 * mix: write a temporary file beside the target, fsync it, rename it over the target, fsync the
 * directory so the rename itself is durable.
 */
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, renameSync, rmSync, writeSync, chmodSync, lstatSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** Creates `dir` (and parents) with `mode` if missing; an existing one is tightened to `mode` if it is ours. */
export function ensureDir(dir: string, mode = 0o700): void {
  mkdirSync(dir, { recursive: true, mode });
  const st = lstatSync(dir);
  if (typeof process.getuid === "function" && st.uid === process.getuid() && (st.mode & 0o777 & ~mode) !== 0) chmodSync(dir, mode);
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on a directory (EINVAL); the rename has happened anyway.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function writeTemp(path: string, content: string | Uint8Array, mode: number): string {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  // O_EXCL: a temporary name someone planted (a symlink) is never followed.
  const fd = openSync(temp, "wx", mode);
  try {
    const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
    let done = 0;
    while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
  closeSync(fd);
  return temp;
}

/** Replaces `path` with `content` atomically and durably; the file gets `mode` from its creation. */
export function writeFileAtomic(path: string, content: string | Uint8Array, mode = 0o644): void {
  const dir = dirname(path);
  const temp = writeTemp(path, content, mode);
  try {
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
  fsyncDir(dir);
}

/**
 * Creates `path` with `content`, complete and durable, only if it does not exist: link(2) of a
 * finished temporary file fails with EEXIST when another process got there first, so two
 * processes racing never both win, and no reader sees a half-written file. True if we created it.
 */
export function createFileExclusive(path: string, content: string | Uint8Array, mode = 0o644): boolean {
  const temp = writeTemp(path, content, mode);
  try {
    linkSync(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    rmSync(temp, { force: true });
  }
  fsyncDir(dirname(path));
  return true;
}

/** Removes `path` durably; missing is fine. */
export function removeFileDurably(path: string): boolean {
  try {
    rmSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
  fsyncDir(dirname(path));
  return true;
}
