/**
 * The few Bun APIs the Bun host uses, declared here rather than through `bun-types`: the project
 * compiles with Node's types only, and bun-types would redeclare Node's globals. Shapes follow
 * Bun's documentation for `Bun.connect` (TCP sockets) and `Bun.CryptoHasher`, as of Bun 1.4.
 */
import { ConfigError } from "../core/errors.js";

/** An open Bun TCP socket (`Socket<undefined>`). */
export interface BunSocket {
  /**
   * Writes what the kernel takes now and returns that count, -1 once closed: Bun's sockets keep
   * no queue of their own, so the rest is the caller's to write on `drain`.
   */
  write(data: Uint8Array): number;
  /** Sends FIN once what was written is out. */
  end(): void;
  /** Closes at once. */
  terminate(): void;
  setNoDelay(noDelay?: boolean): boolean;
}

/** The callbacks of one socket; Bun calls them with the socket first. */
export interface BunSocketHandler {
  /** What `data` receives; Bun's default is its Buffer. */
  readonly binaryType: "uint8array";
  open(socket: BunSocket): void;
  data(socket: BunSocket, data: Uint8Array): void;
  drain(socket: BunSocket): void;
  /** `error` is set when the close was not orderly (a reset). */
  close(socket: BunSocket, error?: Error): void;
  error(socket: BunSocket, error: Error): void;
  /** The connection could not be made; `Bun.connect`'s promise rejects with the same error. */
  connectError(socket: BunSocket, error: Error): void;
}

export interface BunHasher {
  update(data: Uint8Array): BunHasher;
  digest(): Uint8Array;
}

export interface BunApi {
  readonly version: string;
  connect(options: { readonly hostname: string; readonly port: number; readonly socket: BunSocketHandler }): Promise<BunSocket>;
  readonly CryptoHasher: {
    new (algorithm: string): BunHasher;
    readonly algorithms: readonly string[];
  };
}

/** The `Bun` global, or a ConfigError saying this entry point needs Bun. */
export function bunApi(): BunApi {
  const bun = (globalThis as { Bun?: BunApi }).Bun;
  if (bun === undefined) throw new ConfigError("iscsi-ts/bun needs the Bun runtime (globalThis.Bun is missing); under Node import iscsi-ts itself");
  return bun;
}
