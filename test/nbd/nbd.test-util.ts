/**
 * The NBD bridge as tests drive it: `iscsi nbd` run as a user runs it (a child process printing
 * its JSON document once it listens), and a raw NBD client over a socket for what real clients
 * never send (garbage, an old handshake, requests past the end).
 */
import { open } from "node:fs/promises";
import * as net from "node:net";
import { expect } from "vitest";
import { ServerReader, clientFlags, infoData, metaData, option, request } from "../../src/nbd/engine/client.test-util.js";
import { ensureBuilt, spawnIscsi } from "../cli/cli.test-util.js";
import { patternBytes } from "../support/pattern.js";
import { runCommand, type ExitStatus, type RunResult, type TrackedProcess } from "../support/processes.js";

export interface BridgeDoc {
  readonly uri: string;
  readonly export: string;
  readonly listen: { readonly host: string; readonly port: number } | { readonly socket: string };
  readonly size: number;
  readonly blockSize: { readonly minimum: number; readonly preferred: number; readonly maximum: number };
  readonly flags: Record<string, boolean>;
  readonly blockStatus: string;
  readonly thinProvisioned: boolean;
}

/** `iscsi nbd <lun-url> --listen 127.0.0.1:0 --json ...` running, with its document. */
export class Bridge {
  private constructor(
    readonly process: TrackedProcess,
    readonly doc: BridgeDoc,
  ) {}

  static async start(lunUrl: string, args: readonly string[] = []): Promise<Bridge> {
    await ensureBuilt();
    const listen = args.includes("--socket") ? [] : ["--listen", "127.0.0.1:0"];
    const process = spawnIscsi(["nbd", lunUrl, ...listen, "--json", ...args]);
    await process.waitForOutput(/^}$/m, { timeoutMs: 20_000, what: "the bridge's JSON document" });
    return new Bridge(process, JSON.parse(process.stdout()) as BridgeDoc);
  }

  get port(): number {
    if (!("port" in this.doc.listen)) throw new Error("the bridge listens on a Unix socket");
    return this.doc.listen.port;
  }

  /** nbd://127.0.0.1:PORT/NAME (the export's own name, or another). */
  uri(name?: string): string {
    return name === undefined ? this.doc.uri : `nbd://127.0.0.1:${this.port}/${name}`;
  }

  stderr(): string {
    return this.process.stderr();
  }

  /** Resolves once stderr shows `pattern`. */
  async log(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    return this.process.waitForOutput(pattern, { timeoutMs, what: `a line matching ${pattern}` });
  }

  /** SIGTERM (or another signal), then its exit. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<ExitStatus> {
    this.process.signal(signal);
    return this.process.exited;
  }
}

/** Runs a peer tool, failing the test with its output when it fails. */
export async function peer(command: string, args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  const result = await runCommand(command, args, { timeoutMs });
  expect(result.code, `${result.command}\nstdout: ${result.stdout.slice(0, 2000)}\nstderr: ${result.stderr.slice(0, 2000)}`).toBe(0);
  return result;
}

/** A client that speaks NBD byte by byte, as the test tells it. */
export class RawNbdClient {
  /** Received bytes from `start` to `end` (a buffer that doubles as needed: no quadratic copying). */
  private buffer = new Uint8Array(1 << 16);
  private start = 0;
  private end = 0;
  private waiters: (() => void)[] = [];
  readonly closed: Promise<void>;

  private constructor(private readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.append(chunk);
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on("error", () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on("close", () => {
        resolve();
        for (const w of this.waiters.splice(0)) w();
      }),
    );
  }

  private append(chunk: Uint8Array): void {
    if (this.end + chunk.length > this.buffer.length) {
      const live = this.end - this.start;
      const bigger = new Uint8Array(Math.max(this.buffer.length, 2 * (live + chunk.length)));
      bigger.set(this.buffer.subarray(this.start, this.end));
      this.buffer = bigger;
      this.start = 0;
      this.end = live;
    }
    this.buffer.set(chunk, this.end);
    this.end += chunk.length;
  }

  static connect(port: number): Promise<RawNbdClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port }, () => {
        socket.off("error", reject);
        resolve(new RawNbdClient(socket));
      });
      socket.once("error", reject);
    });
  }

  get isClosed(): boolean {
    return this.socket.destroyed;
  }

  send(...parts: Uint8Array[]): void {
    for (const p of parts) this.socket.write(p);
  }

  /**
   * Reads one message with `parse` (ServerReader's methods), waiting for its bytes; rejects if the
   * server closes first or nothing complete arrives within `timeoutMs`.
   */
  async next<T>(parse: (reader: ServerReader) => T, timeoutMs = 10_000): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const reader = ServerReader.over(this.buffer.subarray(this.start, this.end));
      try {
        const value = parse(reader);
        this.start = this.end - reader.remaining;
        return value;
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
      }
      if (this.socket.destroyed) throw new Error(`the server closed the connection (${this.end - this.start} unread bytes)`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no complete message from the server within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Greeting, fixed newstyle flags, optionally structured replies and base:allocation, then NBD_OPT_GO for `name`. */
  async negotiate(options: { readonly structured?: boolean; readonly meta?: boolean; readonly name?: string } = {}): Promise<void> {
    await this.next((r) => r.greeting());
    this.send(clientFlags(3));
    if (options.structured === true || options.meta === true) {
      this.send(option(8));
      expect((await this.next((r) => r.optionReplies())).map((r) => r.type)).toEqual([1]);
    }
    if (options.meta === true) {
      this.send(option(10, metaData(options.name ?? "", ["base:allocation"])));
      expect((await this.next((r) => r.optionReplies())).map((r) => r.type)).toEqual([4, 1]);
    }
    this.send(option(7, infoData(options.name ?? "", [3])));
    const replies = await this.next((r) => r.optionReplies());
    expect(replies[replies.length - 1]?.type).toBe(1);
  }

  close(): void {
    this.socket.destroy();
  }

  /** Resolves once the server has closed the connection (rejects after `timeoutMs`). */
  async expectClosed(timeoutMs = 5_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.closed,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the server did not close the connection within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }
}

/** What a stream of writes cut by a stop left: which blocks were acknowledged, which errnos refused. */
export interface StoppedStream {
  /** Block numbers acknowledged with error 0. */
  readonly acknowledged: number[];
  /** NBD errno -> how many requests it refused. */
  readonly refused: ReadonlyMap<number, number>;
  /** Requests sent. */
  readonly sent: number;
  readonly blocks: number;
}

export interface StreamOptions {
  readonly size: number;
  readonly block: number;
  readonly seed: number;
  readonly depth: number;
  /** Called once a quarter of the blocks are acknowledged: it stops the server. */
  readonly stop: () => void;
}

/**
 * Writes `size` bytes in `block`-byte requests, `depth` in flight, each block the pattern of its
 * own offsets (cookie = block number, so a reply names the block it acknowledges), and calls
 * `stop` once a quarter of them are acknowledged: mid-stream by count, not by a timer (on a quick
 * machine a whole stream once finished before a 300 ms timer fired). Reads replies until the
 * server closes the connection.
 */
export async function writeStreamUntilStopped(client: RawNbdClient, o: StreamOptions): Promise<StoppedStream> {
  const blocks = o.size / o.block;
  let next = 0;
  const send = (): void => {
    if (next >= blocks) return;
    client.send(request({ type: 1, cookie: BigInt(next), offset: next * o.block, length: o.block }, patternBytes(next * o.block, o.block, o.seed)));
    next++;
  };
  for (let i = 0; i < o.depth; i++) send();
  const acknowledged: number[] = [];
  const refused = new Map<number, number>();
  let stopped = false;
  try {
    for (;;) {
      const reply = await client.next((r) => r.reply(), 15_000);
      if (reply.kind !== "simple") throw new Error("simple replies were negotiated");
      if (reply.error === 0) acknowledged.push(Number(reply.cookie));
      else refused.set(reply.error, (refused.get(reply.error) ?? 0) + 1);
      if (!stopped && acknowledged.length >= blocks / 4) {
        stopped = true;
        o.stop();
      }
      send();
    }
  } catch (error) {
    if (!/closed the connection/.test((error as Error).message)) throw error;
  }
  return { acknowledged, refused, sent: next, blocks };
}

/** The acknowledged blocks of a stream (see writeStreamUntilStopped) whose bytes are not in the file at `path`. */
export async function blocksMissingFrom(path: string, acknowledged: readonly number[], block: number, seed: number): Promise<number[]> {
  const file = await open(path, "r");
  const lost: number[] = [];
  try {
    const got = new Uint8Array(block);
    for (const n of acknowledged) {
      await file.read(got, 0, block, n * block);
      if (Buffer.compare(got, patternBytes(n * block, block, seed)) !== 0) lost.push(n);
    }
  } finally {
    await file.close();
  }
  return lost;
}
