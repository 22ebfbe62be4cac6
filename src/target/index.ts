/**
 * The embedded iSCSI target: `startTarget` on Node, the sans-I/O `TargetEngine` it drives, and
 * the storage backends (`mem:`, `null:`, `file:`). See README.md in this folder.
 */
export { type LunConfig, type RunningTarget, type TargetNodeConfig, type TargetServerConfig, type TargetServerEvents, startTarget } from "./server.js";
export { type AsyncNotice, type EngineDeps, type EngineOptions, TargetEngine } from "./engine/engine.js";
export {
  DEFAULT_LOGIN_TIMEOUT_MS,
  DEFAULT_MAX_TRANSFER_BYTES,
  DEFAULT_NOP_IN,
  DEFAULT_QUEUE_DEPTH,
  DEFAULT_RETENTION_BYTES,
  EMBEDDED_TARGET_POLICY,
  type EngineConfig,
  type LunDefinition,
  type NopInSettings,
  type Portal,
  type TargetDefinition,
} from "./engine/config.js";
export type { ConnectionEndpoint, EngineEvent, EngineStats, SessionCloseReason, SessionSummary } from "./engine/events.js";
export type { TargetConnection } from "./engine/connection.js";
export { type HostileBehaviour, type HostileKind, checkHostile } from "./hostile/behaviour.js";
export type { TargetSession } from "./engine/session.js";
export type { Extent, MapExtent, StorageFailureKind, StorageOperation, StorageOutcome, StorageRequest, UnitRef } from "./engine/storage.js";
export { type BlockBackend, performStorage, performStorageSync } from "./backends/backend.js";
export { MemoryBackend } from "./backends/memory.js";
export { NullBackend } from "./backends/null.js";
export { FileBackend, type FileBackendOptions } from "./backends/file.js";
export { openBackend } from "./backends/open.js";
export { type BackendSpec, formatSize, parseBackendSpec, parseSize } from "./backends/spec.js";
