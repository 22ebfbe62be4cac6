import type { ClientHost } from "./host.js";

/** Waits `ms` on the host's timer (held: a wait the caller is awaiting keeps the process alive). */
export function sleep(host: ClientHost, ms: number): Promise<void> {
  return new Promise((resolve) => {
    host.setTimer(ms, resolve).hold(true);
  });
}
