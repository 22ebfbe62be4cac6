/**
 * A fuzz worker: runs one slice of one target's inputs and reports back. The input index about to
 * run is kept in shared memory, so the runner can tell which input hung or crashed the worker and
 * replay it (inputs are a function of seed and index).
 */
import { parentPort, workerData } from "node:worker_threads";
import { LocalProtocolError } from "../src/core/errors.js";
import { type Finding, runTarget, type TargetStats } from "./engine.js";
import { targetNamed } from "./targets/index.js";

export interface WorkerJob {
  readonly target: string;
  readonly seed: number;
  readonly from: number;
  readonly inputs: number;
  readonly slowMs: number;
  /** One Int32: the index of the input running now. */
  readonly progress: SharedArrayBuffer;
}

export type WorkerMessage =
  | { readonly type: "finding"; readonly finding: Finding }
  | { readonly type: "done"; readonly stats: TargetStats };

const job = workerData as WorkerJob;
const port = parentPort;
if (port === null) throw new LocalProtocolError("fuzz/worker.ts runs as a worker thread");
const target = targetNamed(job.target);
if (target === undefined) throw new LocalProtocolError(`no fuzz target named ${job.target}`);
const progress = new Int32Array(job.progress);
const stats = runTarget(target, {
  seed: job.seed,
  inputs: job.inputs,
  from: job.from,
  slowMs: job.slowMs,
  onInput: (index) => Atomics.store(progress, 0, index),
  onFinding: (finding) => port.postMessage({ type: "finding", finding } satisfies WorkerMessage),
});
port.postMessage({ type: "done", stats } satisfies WorkerMessage);
