/**
 * Sessions on worker threads (issue 11, "Every core"): a pool of workers, each running ordinary
 * sessions with the Node host, and on the caller's thread sessions and LUNs with the API of
 * IscsiSession and Lun. See docs/WORKERS.md for the design and where bytes are copied.
 */
export { createWorkerPool, type WorkerPool, type WorkerPoolOptions } from "./pool.js";
export { WorkerSession } from "./session.js";
export { WorkerLun } from "./lun.js";
export type { SessionApi, LunApi, SessionEventSource, ReadOptions, WriteOptions, WorkerExecuteOptions, TransferOption } from "./api.js";
export { allocateShared, isShared } from "./buffers.js";
export { openSpreadLun, withSpreadLun, type SpreadLun, type SpreadOptions } from "./spread.js";
