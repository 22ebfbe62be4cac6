/**
 * The embedded target's iSNS registration (RFC 4171): one entity holding the target's portal and
 * every target node, refreshed before the period the server grants ends, deregistered on close.
 */
import { NodeType } from "../core/isns/constants.js";
import type { IsnsServerAddress } from "../core/isns/server-address.js";
import type { IscsiError } from "../core/errors.js";
import { type IsnsRegistration, registerWithIsns } from "../node/isns.js";

export interface TargetIsnsConfig {
  /** `HOST[:PORT]` of the iSNS server (3205 unless given). */
  readonly server: string | IsnsServerAddress;
  /** Seconds to ask for; 900 unless told. The server's grant is what counts. */
  readonly registrationPeriod?: number;
  /** The Entity Identifier; `iscsi-ts:<first target's IQN>` unless told. */
  readonly entityId?: string;
  /** Time for each iSNS exchange; 10 s unless told. */
  readonly timeoutMs?: number;
  /** A refresh failed (the target keeps serving and tries again). */
  readonly onError?: (error: IscsiError) => void;
}

export function registerTarget(
  config: TargetIsnsConfig,
  nodes: ReadonlyArray<{ readonly iqn: string; readonly alias?: string }>,
  portal: { readonly host: string; readonly port: number },
): Promise<IsnsRegistration> {
  return registerWithIsns(
    config.server,
    {
      entityId: config.entityId ?? `iscsi-ts:${nodes[0]?.iqn ?? "target"}`,
      registrationPeriod: config.registrationPeriod ?? 900,
      portals: [portal],
      nodes: nodes.map((n) => ({ name: n.iqn, type: NodeType.Target, ...(n.alias === undefined ? {} : { alias: n.alias }) })),
    },
    { ...(config.timeoutMs === undefined ? {} : { timeoutMs: config.timeoutMs }), ...(config.onError === undefined ? {} : { onError: config.onError }) },
  );
}
