/** Opens a backend from its specification (Node host: files go through node:fs). */
import { FileBackend } from "./file.js";
import { MemoryBackend } from "./memory.js";
import { NullBackend } from "./null.js";
import type { BlockBackend } from "./backend.js";
import { type BackendSpec, formatSize, parseBackendSpec } from "./spec.js";

export async function openBackend(spec: string | BackendSpec): Promise<BlockBackend> {
  const s = typeof spec === "string" ? parseBackendSpec(spec) : spec;
  switch (s.kind) {
    case "mem":
      return new MemoryBackend(s.size, { description: `mem:${formatSize(s.size)}` });
    case "null":
      return new NullBackend(s.size, `null:${formatSize(s.size)}`);
    case "file":
      return FileBackend.open(s);
  }
}
