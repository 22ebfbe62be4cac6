/**
 * tgtd's and tgtadm's command lines and what they print, read one way by the bench's tgtd
 * (tgtd.ts here) and the test harness's (test/support/tgtd.ts). Each runs the processes its own
 * way; what tgtd means by its words is the same for both.
 *
 * Traps (see the shared PEERS.md): tgtd does not fail when its portal's port is taken but listens
 * on 0.0.0.0:3260 instead, so readiness is judged from `ss` by pid and exact address, never from
 * tgtd's own silence; `-C` values are locks, one per running tgtd; tgtd ignores SIGTERM, so it is
 * stopped with SIGKILL.
 */

/** tgtd in the foreground on one portal, with control port `ctl` (its `-C`). */
export function tgtdArgs(host: string, port: number, ctl: number): string[] {
  return ["-f", "-C", String(ctl), "--iscsi", `portal=${host}:${port}`];
}

/** A tgtadm request to the tgtd on control port `ctl` (the iSCSI driver's). */
export function tgtadmArgs(ctl: number, args: readonly string[]): string[] {
  return ["-C", String(ctl), "--lld", "iscsi", ...args];
}

/** The tgtadm request that answers once tgtd is up: listing the targets. */
export function tgtdProbeArgs(ctl: number): string[] {
  return tgtadmArgs(ctl, ["--op", "show", "--mode", "target"]);
}

/**
 * Why a tgtd that was starting will never be ready, from its stderr so far: its control port's
 * lock is held by another tgtd, or its portal could not be bound. Undefined while neither is said.
 */
export function tgtdStartProblem(stderr: string): "control-port-taken" | "portal-taken" | undefined {
  if (/another tgtd is using/.test(stderr)) return "control-port-taken";
  if (/failed to create\/bind to portal/.test(stderr)) return "portal-taken";
  return undefined;
}

/** The `Name=value` lines of `tgtadm --op show --mode target --tid N`: what tgtd offers in negotiation. */
export function parseTgtadmParams(show: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const line of show.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) params[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return params;
}
