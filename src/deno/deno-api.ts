/**
 * The few Deno APIs the Deno host uses, declared here rather than through Deno's own lib
 * (`deno.ns`): the project compiles with Node's types only. Shapes follow Deno 2's `Deno.connect`
 * and `Deno.TcpConn`.
 */
import { ConfigError } from "../core/errors.js";

/** An open TCP connection (`Deno.TcpConn`). */
export interface DenoConn {
  /** Reads into `buffer`; the count, or null at the peer's orderly close (FIN). */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Writes what the kernel takes now (at least one byte) and returns that count. */
  write(data: Uint8Array): Promise<number>;
  /** Sends FIN; reading goes on. */
  closeWrite(): Promise<void>;
  /** Closes both ways at once; a pending read or write then rejects. */
  close(): void;
  setNoDelay(noDelay?: boolean): void;
}

export interface DenoApi {
  readonly version: { readonly deno: string };
  /** `signal` abandons a connect still in progress (a SYN nobody answers): the promise rejects. */
  connect(options: { readonly hostname: string; readonly port: number; readonly transport?: "tcp"; readonly signal?: AbortSignal }): Promise<DenoConn>;
  /** Needs --allow-sys (hostname): throws without it, or prompts on a terminal. */
  hostname(): string;
  /** Whether a permission is granted, without prompting (absent before Deno 1.36). */
  readonly permissions?: {
    querySync?(descriptor: { readonly name: "read" | "env" | "ffi" | "sys"; readonly kind?: "hostname" }): { readonly state: "granted" | "denied" | "prompt" };
  };
  refTimer(id: number): void;
  unrefTimer(id: number): void;
}

/** The `Deno` global, or a ConfigError saying this entry point needs Deno. */
export function denoApi(): DenoApi {
  const deno = (globalThis as { Deno?: DenoApi }).Deno;
  if (deno === undefined) throw new ConfigError("iscsi-ts/deno needs the Deno runtime (globalThis.Deno is missing); under Node import iscsi-ts itself");
  return deno;
}
