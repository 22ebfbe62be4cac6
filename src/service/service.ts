/**
 * `iscsi up`'s state: one NodeRunner per node it keeps (every automatic record, and manual ones
 * logged in by hand through the control socket), the reload that SIGHUP triggers (unchanged
 * records keep their sessions; new ones start, removed ones stop, changed ones restart), the
 * status document, and the stop of all of them within one deadline.
 */
import { createHash } from "node:crypto";
import { ConfigError } from "../core/errors.js";
import { type NodeRecord, serializeRecord } from "../node/records/record.js";
import type { NodeStore } from "../node/records/store.js";
import { NodeRunner, type NodeRunnerDeps, type NodeStatus, type NodeStopReport } from "./node-runner.js";

export interface ReloadReport {
  readonly started: readonly string[];
  readonly stopped: readonly string[];
  readonly restarted: readonly string[];
  readonly kept: readonly string[];
  /** Damaged records: file:line and why. A running node whose record became damaged keeps running. */
  readonly damaged: readonly string[];
}

export interface ServiceStatus {
  readonly pid: number;
  readonly startedAt: string;
  readonly initiatorName: string;
  readonly configDir: string;
  readonly controlSocket: string;
  readonly reloads: number;
  readonly nodes: readonly NodeStatus[];
  readonly damaged: readonly string[];
}

interface Kept {
  readonly runner: NodeRunner;
  readonly fingerprint: string;
  /** Logged in through `iscsi node login` rather than for startup = automatic. */
  readonly byHand: boolean;
}

export class Service {
  private readonly nodes = new Map<string, Kept>();
  private damaged: string[] = [];
  private reloads = 0;
  private readonly startedAt = new Date();
  private stopped = false;

  constructor(
    private readonly store: NodeStore,
    private readonly deps: NodeRunnerDeps,
    private readonly info: { readonly initiatorName: string; readonly controlSocket: string; readonly stopDeadlineMs: number },
  ) {}

  /** The record and its secrets, so that a changed secret restarts the node too. */
  private fingerprint(record: NodeRecord): string {
    const hash = createHash("sha256").update(serializeRecord(record));
    for (const kind of ["chap-secret", "chap-target-secret"] as const) hash.update(`\0${this.store.readSecret(record.name, kind) ?? ""}`);
    return hash.digest("hex");
  }

  private startNode(record: NodeRecord, byHand: boolean): void {
    const runner = new NodeRunner(record, this.deps);
    this.nodes.set(record.name, { runner, fingerprint: this.fingerprint(record), byHand });
    runner.start();
  }

  /** Reads the records and brings the running set in line with them. */
  async reload(): Promise<ReloadReport> {
    if (this.stopped) throw new ConfigError("the service is stopping");
    const entries = this.store.list();
    this.damaged = entries.flatMap((e) => (e.error === undefined ? [] : [e.error.message]));
    const records = new Map(entries.flatMap((e) => (e.record === undefined ? [] : [[e.name, e.record] as const])));
    const damagedNames = new Set(entries.filter((e) => e.error !== undefined).map((e) => e.name));
    const started: string[] = [];
    const stopped: string[] = [];
    const restarted: string[] = [];
    const kept: string[] = [];
    for (const [name, current] of [...this.nodes]) {
      const record = records.get(name);
      if (record === undefined) {
        if (damagedNames.has(name)) {
          kept.push(name);
          continue;
        }
        this.nodes.delete(name);
        this.deps.log(`${name}: its record is gone; stopping`);
        await current.runner.stop(this.info.stopDeadlineMs);
        stopped.push(name);
      } else if (record.startup !== "automatic" && !current.byHand) {
        this.nodes.delete(name);
        this.deps.log(`${name}: now startup = manual; stopping`);
        await current.runner.stop(this.info.stopDeadlineMs);
        stopped.push(name);
      } else if (this.fingerprint(record) !== current.fingerprint) {
        this.deps.log(`${name}: its record changed; restarting`);
        await current.runner.stop(this.info.stopDeadlineMs);
        this.startNode(record, current.byHand);
        restarted.push(name);
      } else {
        kept.push(name);
      }
    }
    for (const [name, record] of records) {
      if (this.nodes.has(name) || record.startup !== "automatic") continue;
      this.startNode(record, false);
      started.push(name);
    }
    for (const line of this.damaged) this.deps.log(`damaged record skipped: ${line}`);
    this.reloads++;
    return { started, stopped, restarted, kept, damaged: this.damaged };
  }

  /** `iscsi node login NAME` while the service runs: keep that node too. */
  login(name: string): { readonly name: string; readonly already: boolean } {
    if (this.nodes.has(name)) return { name, already: true };
    this.startNode(this.store.get(name), true);
    return { name, already: false };
  }

  /** `iscsi node logout NAME`: stop keeping it (until a reload, for an automatic node). */
  async logout(name: string, deadlineMs: number): Promise<NodeStopReport> {
    const current = this.nodes.get(name);
    if (current === undefined) throw new ConfigError(`the service keeps no node named "${name}" (${[...this.nodes.keys()].join(", ") || "none"})`);
    this.nodes.delete(name);
    return current.runner.stop(deadlineMs);
  }

  status(): ServiceStatus {
    return {
      pid: process.pid,
      startedAt: this.startedAt.toISOString(),
      initiatorName: this.info.initiatorName,
      configDir: this.store.dir,
      controlSocket: this.info.controlSocket,
      reloads: this.reloads,
      nodes: [...this.nodes.values()].map((n) => n.runner.status()),
      damaged: this.damaged,
    };
  }

  /** Stops every node at once, all within `deadlineMs`. */
  async stop(deadlineMs: number): Promise<readonly NodeStopReport[]> {
    this.stopped = true;
    const all = [...this.nodes.values()];
    this.nodes.clear();
    return Promise.all(all.map((n) => n.runner.stop(deadlineMs)));
  }
}
