/**
 * Listening on a TCP port for the servers of this project (the embedded target, the NBD bridge,
 * the gateway), and why it failed in words for whoever ran them: errno codes mean nothing to
 * them. One place, so the three listen and say it alike.
 */
import type * as net from "node:net";
import { ConfigError } from "../core/errors.js";
import { formatHostPort } from "../core/url.js";

/** Why a TCP listen failed, in words. */
export function whyListenFailed(error: NodeJS.ErrnoException, host: string): string {
  switch (error.code) {
    case "EADDRINUSE":
      return "the port is in use";
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      // As the initiator says it when it cannot connect (client/services.ts socketError).
      return `unknown host "${host}"`;
    case "EADDRNOTAVAIL":
      return "this machine has no such address";
    case "EACCES":
      return "permission denied (ports below 1024 need privileges)";
    default:
      return error.code ?? error.message;
  }
}

/**
 * Listens on `host`:`port` (0: any free port), exclusively, and resolves with the address bound;
 * a failure is a ConfigError naming the address and why, followed by `inUseHint` when the port
 * is taken (what the caller's user can do about it).
 */
export function listenTcp(server: net.Server, host: string, port: number, inUseHint = ""): Promise<net.AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      const hint = error.code === "EADDRINUSE" ? inUseHint : "";
      reject(new ConfigError(`cannot listen on ${formatHostPort(host, port)}: ${whyListenFailed(error, host)}${hint}`, { cause: error }));
    };
    server.once("error", onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off("error", onError);
      resolve(server.address() as net.AddressInfo);
    });
  });
}
