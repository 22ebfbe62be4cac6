/**
 * The byte stream of one host (ClientHost.connect) on its own, under the runtime running this
 * file, against servers that test/hosts/transport.test.ts runs on real sockets:
 *
 *   <runtime> test/hosts/transport.ts '<TransportConfig as JSON>'
 *
 * - refused: a port nobody listens on; the stream closes with a TransportError naming host:port.
 * - timeout: a listener that never accepts (its queue is full); a TimeoutError after `timeoutMs`.
 * - sink: a server that reads nothing at first; 48 MiB in batches of pieces, overwritten as soon
 *   as `write` returns when `scribble` (the host must copy what the kernel did not take), the
 *   server checks every byte and answers one when it has them all; then `end`, and the server's
 *   close ends the stream without an error.
 * - reset: the server resets the connection; a TransportError saying so.
 * - echo: 4 MiB echoed back, read in turns through `received` and `directTarget`, some reads
 *   asked by `headerReadLength` to take no more than a 48-byte header.
 * Every stream must report `closed` exactly once and never inside `connect`.
 * - services: the host's hashes against @noble/hashes for CHAP's four algorithms, its CRC32C
 *   against the pure one (lengths on both sides of the native cut-over, and continued), its
 *   random bytes.
 * The last stdout line is the JSON result.
 */
import { pathToFileURL } from "node:url";
import { patternBytes } from "../support/pattern.js";
import type { ByteStream, ClientHost, IscsiError, StreamSink } from "../../src/client/index.js";
import type * as Hashes from "../../src/client/hashes.js";
import type * as Crc from "../../src/core/digest/crc32c.js";

export interface TransportConfig {
  readonly entry: string;
  readonly refusedPort: number;
  readonly timeoutPort: number;
  readonly sinkPort: number;
  readonly resetPort: number;
  readonly echoPort: number;
  readonly sinkBytes: number;
  readonly echoBytes: number;
  readonly seed: number;
  /** Overwrite each batch's pieces once `write` returns, as host.ts allows the core to. */
  readonly scribble: boolean;
}

export interface ClosedReport {
  readonly code: string | undefined;
  readonly message: string | undefined;
  readonly connected: boolean;
  /** `closed` ran inside `connect`: never allowed. */
  readonly synchronous: boolean;
  /** How many times `closed` ran (after a pause for a second call). */
  readonly calls: number;
  readonly elapsedMs: number;
}

export interface TransportResult {
  readonly host: string;
  readonly refused: ClosedReport;
  readonly timeout: ClosedReport;
  readonly sink: ClosedReport;
  readonly reset: ClosedReport;
  readonly echo: ClosedReport & {
    readonly bytes: number;
    readonly equal: boolean;
    readonly directReads: number;
    readonly headerReads: number;
    readonly overreads: number;
  };
  readonly services: { readonly hashMismatches: string[]; readonly crcMismatches: number[]; readonly randomDistinct: boolean };
}

const config = JSON.parse(process.argv[process.argv.length - 1] ?? "{}") as TransportConfig;
const HOST = "127.0.0.1";

interface Probe {
  readonly stream: ByteStream;
  readonly opened: Promise<void>;
  readonly closed: Promise<ClosedReport>;
}

/** Opens a stream whose sink records what happens; `extra` adds the reading side. */
function open(host: ClientHost, port: number, timeoutMs: number, extra: Partial<StreamSink> = {}): Probe {
  const started = performance.now();
  let insideConnect = true;
  let synchronous = false;
  let connected = false;
  let calls = 0;
  let onOpen: () => void = () => undefined;
  let onClose: (report: ClosedReport) => void = () => undefined;
  const opened = new Promise<void>((resolve) => (onOpen = resolve));
  const closed = new Promise<ClosedReport>((resolve) => (onClose = resolve));
  const stream = host.connect(
    { host: HOST, port },
    {
      connected: () => {
        connected = true;
        onOpen();
      },
      received: () => undefined,
      directTarget: () => undefined,
      headerReadLength: () => 0,
      receivedDirectly: () => undefined,
      ...extra,
      closed: (error: IscsiError | undefined) => {
        calls++;
        if (insideConnect) synchronous = true;
        if (calls > 1) return;
        const elapsedMs = Math.round(performance.now() - started);
        // A second call would come soon after the first: give it the time to show.
        setTimeout(() => onClose({ code: error?.code, message: error?.message, connected, synchronous, calls, elapsedMs }), 200);
      },
    },
    { timeoutMs },
  );
  insideConnect = false;
  return { stream, opened, closed };
}

async function sink(host: ClientHost): Promise<ClosedReport> {
  let acknowledged: () => void = () => undefined;
  const allTaken = new Promise<void>((resolve) => (acknowledged = resolve));
  // The server answers one byte once it has every byte: only then do we end.
  const probe = open(host, config.sinkPort, 5_000, { received: () => acknowledged() });
  await probe.opened;
  const batch = 1 << 20;
  const reused = new Uint8Array(batch);
  for (let at = 0; at < config.sinkBytes; at += batch) {
    const bytes = config.scribble ? reused : new Uint8Array(batch);
    bytes.set(patternBytes(at, batch, config.seed));
    // A PDU-like batch: a 48-byte header, then the rest in two pieces.
    probe.stream.write([bytes.subarray(0, 48), bytes.subarray(48, batch / 2), bytes.subarray(batch / 2)], batch);
    if (config.scribble) reused.fill(0xaa);
  }
  await allTaken;
  probe.stream.end();
  return probe.closed;
}

async function echo(host: ClientHost): Promise<TransportResult["echo"]> {
  const total = config.echoBytes;
  const back = new Uint8Array(total);
  let got = 0;
  let turn = 0;
  let directReads = 0;
  // Every third read into the host's own buffer asks for a 48-byte header only, as after a
  // large Data-In: the host must then read no more than that.
  let headerTurn = 0;
  let asked = 0;
  let headerReads = 0;
  let overreads = 0;
  let done: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (done = resolve));
  const count = (n: number): void => {
    got += n;
    if (got >= total) done();
  };
  const probe = open(host, config.echoPort, 5_000, {
    received: (bytes) => {
      if (asked > 0) {
        if (bytes.length <= asked) headerReads++;
        else overreads++;
      }
      asked = 0;
      back.set(bytes.subarray(0, total - got), got);
      count(bytes.length);
    },
    // Every other read, when enough is still to come, goes straight into `back`, as Data-In does.
    directTarget: (minimum) => (total - got >= minimum && turn++ % 2 === 0 ? back.subarray(got) : undefined),
    headerReadLength: () => (asked = headerTurn++ % 3 === 0 ? 48 : 0),
    receivedDirectly: (n) => {
      asked = 0;
      directReads++;
      count(n);
    },
  });
  await probe.opened;
  for (let at = 0; at < total; at += 64 * 1024) probe.stream.write([patternBytes(at, 64 * 1024, config.seed)], 64 * 1024);
  await all;
  const expected = patternBytes(0, total, config.seed);
  let equal = got === total;
  for (let i = 0; equal && i < total; i++) equal = back[i] === expected[i];
  probe.stream.destroy();
  return { ...(await probe.closed), bytes: got, equal, directReads, headerReads, overreads };
}

/** The host's services for the core, checked against the pure implementations beside the entry in dist. */
async function services(host: ClientHost): Promise<TransportResult["services"]> {
  const { nobleHash } = (await import(new URL("../client/hashes.js", pathToFileURL(config.entry)).href)) as typeof Hashes;
  const { crc32c } = (await import(new URL("../core/digest/crc32c.js", pathToFileURL(config.entry)).href)) as typeof Crc;
  const input = patternBytes(0, 70_000, config.seed);
  const hashMismatches: string[] = [];
  for (const algorithm of ["md5", "sha1", "sha256", "sha3-256"] as const) {
    for (const length of [0, 1, 49, 1000]) {
      const ours = host.deps.hash(algorithm, input.subarray(0, length));
      const noble = nobleHash(algorithm, input.subarray(0, length));
      if (ours.length !== noble.length || ours.some((b, i) => b !== noble[i])) hashMismatches.push(`${algorithm}/${length}`);
    }
  }
  const crcMismatches: number[] = [];
  for (const length of [0, 1, 48, 255, 256, 257, 4096, 65_536, 70_000]) {
    const data = input.subarray(0, length);
    if (host.deps.crc32c(data) !== crc32c(data)) crcMismatches.push(length);
    if (host.deps.crc32c(data, 0x12345678) !== crc32c(data, 0x12345678)) crcMismatches.push(-length);
  }
  const a = host.deps.randomBytes(70_000);
  const b = host.deps.randomBytes(70_000);
  const randomDistinct = a.length === 70_000 && a.some((x, i) => x !== b[i]) && a.subarray(66_000).some((x) => x !== 0);
  return { hashMismatches, crcMismatches, randomDistinct };
}

async function main(): Promise<void> {
  const lib = (await import(pathToFileURL(config.entry).href)) as Record<string, (() => ClientHost) | undefined>;
  const make = lib["bunHost"] ?? lib["denoHost"] ?? lib["nodeHost"];
  if (make === undefined) throw new Error(`${config.entry} exports no host`);
  const host = make();
  const [refused, timeout, sinkReport, reset, echoReport] = await Promise.all([
    open(host, config.refusedPort, 5_000).closed,
    open(host, config.timeoutPort, 300).closed,
    sink(host),
    open(host, config.resetPort, 5_000).closed,
    echo(host),
  ]);
  const result: TransportResult = { host: host.name, refused, timeout, sink: sinkReport, reset, echo: echoReport, services: await services(host) };
  console.log(JSON.stringify(result));
}

await main();
