/**
 * Why a TCP listen failed, in words for whoever ran the server (the embedded target, the NBD
 * bridge, the gateway): errno codes mean nothing to them. One place, so the three say it alike.
 */
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
