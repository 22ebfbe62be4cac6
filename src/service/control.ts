/**
 * The control socket of `iscsi up`: a Unix socket (mode 0600, in a 0700 directory) on which
 * `iscsi status`, `iscsi node login` and `iscsi node logout` ask the running service. One JSON
 * line each way per connection: a request `{"op": ...}`, then the answer, then the close.
 */
import { chmod, unlink } from "node:fs/promises";
import * as net from "node:net";
import { dirname } from "node:path";
import { ConfigError, IscsiError } from "../core/errors.js";
import { ensureDir } from "../node/records/atomic.js";

export type ControlRequest =
  | { readonly op: "status" }
  | { readonly op: "reload" }
  | { readonly op: "login"; readonly name: string }
  | { readonly op: "logout"; readonly name: string };

export type ControlAnswer = { readonly ok: true; readonly result: unknown } | { readonly ok: false; readonly error: { readonly code: string; readonly message: string } };

/** Longest request or answer line accepted. */
const MAX_LINE = 1 << 20;

/** No service answers at `path` (no socket, or a stale one). */
export class NoServiceError extends ConfigError {
  constructor(readonly path: string) {
    super(`no \`iscsi up\` is running (no service answers on ${path})`);
  }
}

function connect(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path }, () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", reject);
  });
}

/** Listens on `path`; refuses if another service answers there, replaces a stale socket. */
export async function listenControl(path: string, handle: (request: ControlRequest) => Promise<unknown>): Promise<net.Server> {
  ensureDir(dirname(path));
  try {
    const other = await connect(path);
    other.destroy();
    throw new ConfigError(`another \`iscsi up\` is running: its control socket ${path} answers`);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    // ECONNREFUSED: a socket left by a service that died; nobody listens, so it is ours to replace.
    if (code === "ECONNREFUSED") await unlink(path).catch(() => undefined);
  }
  const server = net.createServer((socket) => serve(socket, handle));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    // The socket is created with the process umask; tighten it before anyone can have a use for it.
    const mask = process.umask(0o077);
    server.listen({ path }, () => {
      process.umask(mask);
      server.off("error", reject);
      resolve();
    });
  }).catch((error: NodeJS.ErrnoException) => {
    throw new ConfigError(`cannot listen on the control socket ${path}: ${error.code ?? error.message}`, { cause: error });
  });
  await chmod(path, 0o600);
  return server;
}

function serve(socket: net.Socket, handle: (request: ControlRequest) => Promise<unknown>): void {
  let buffer = "";
  socket.setEncoding("utf8");
  socket.on("error", () => undefined);
  socket.on("data", (chunk: string) => {
    buffer += chunk;
    if (buffer.length > MAX_LINE) {
      socket.destroy();
      return;
    }
    const nl = buffer.indexOf("\n");
    if (nl < 0) return;
    socket.pause();
    const line = buffer.slice(0, nl);
    void answer(line, handle).then((reply) => socket.end(`${JSON.stringify(reply)}\n`));
  });
}

async function answer(line: string, handle: (request: ControlRequest) => Promise<unknown>): Promise<ControlAnswer> {
  try {
    const request = JSON.parse(line) as ControlRequest;
    if (typeof request !== "object" || request === null || typeof request.op !== "string") throw new ConfigError("a control request is a JSON object with an op");
    return { ok: true, result: await handle(request) };
  } catch (error) {
    const code = error instanceof IscsiError ? error.code : "ISCSI_ERR_CONFIG";
    return { ok: false, error: { code, message: error instanceof Error ? error.message : String(error) } };
  }
}

/** Sends one request to the service at `path`; a NoServiceError when none answers. */
export async function controlRequest(path: string, request: ControlRequest, timeoutMs = 30_000): Promise<unknown> {
  let socket: net.Socket;
  try {
    socket = await connect(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ECONNREFUSED" || code === "ENOTDIR") throw new NoServiceError(path);
    throw new ConfigError(`cannot reach the service on ${path}: ${code ?? (error as Error).message}`, { cause: error });
  }
  socket.setEncoding("utf8");
  socket.write(`${JSON.stringify(request)}\n`);
  const text = await new Promise<string>((resolve, reject) => {
    let got = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ConfigError(`the service on ${path} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on("data", (chunk: string) => (got += chunk));
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(new ConfigError(`the service on ${path} failed to answer: ${error.message}`));
    });
    socket.on("end", () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
  let reply: ControlAnswer;
  try {
    reply = JSON.parse(text) as ControlAnswer;
  } catch {
    throw new ConfigError(`the service on ${path} answered something that is not JSON`);
  }
  if (!reply.ok) throw new ServiceRefusal(reply.error.code, reply.error.message);
  return reply.result;
}

/** The service answered with an error; its code is kept so the exit status matches. */
export class ServiceRefusal extends ConfigError {
  constructor(
    readonly remoteCode: string,
    message: string,
  ) {
    super(message);
  }
}
