/**
 * A pool worker's entry point: serves the sessions the pool opens on this thread. The pool
 * starts it as compiled JavaScript (dist/node/workers/worker.js) when the library runs from
 * dist, and from this TypeScript source under tsx's loader when it runs from source (tests):
 * see ./entry.ts.
 */
import { parentPort } from "node:worker_threads";
import { serveSessions } from "./serve.js";

if (parentPort === null) throw new Error("node/workers/worker.js runs as a worker thread of a WorkerPool, not on its own");
serveSessions(parentPort as unknown as Parameters<typeof serveSessions>[0]);
