/**
 * `iscsi discover PORTAL --add`: every target found becomes a node record (as open-iscsi's
 * `iscsiadm -m discovery -t sendtargets` creates node records), without a LUN (so `iscsi up`
 * exports the first disk), named after the IQN. A target already recorded at that portal is left
 * as it is; a name taken by another target gets a suffix.
 */
import type { DiscoveredTarget, Portal } from "../../node/index.js";
import { defaultNodeName, type NodeRecord, recordUrl, type Startup } from "../../node/records/record.js";
import type { CliContext } from "../context.js";
import { credentialsFor, saveWithSecrets, storeOf } from "./node-records.js";

export interface AddedNode {
  readonly name: string;
  readonly url: string;
  /** False: a record for this target and portal existed already. */
  readonly recorded: boolean;
}

export async function addDiscovered(ctx: CliContext, portal: Portal, urlText: string | undefined, targets: readonly DiscoveredTarget[], startup: Startup): Promise<AddedNode[]> {
  const store = storeOf(ctx);
  const credentials = await credentialsFor(ctx, urlText);
  const existing = store.list().flatMap((e) => (e.record === undefined ? [] : [e.record]));
  const added: AddedNode[] = [];
  for (const target of targets) {
    // The portal we asked through, if the target lists it; else the first it lists.
    const listed = target.addresses.find((a) => a.host === portal.host && a.port === portal.port) ?? target.addresses[0];
    const at = listed === undefined ? portal : { host: listed.host, port: listed.port };
    const same = existing.find((r) => r.targetName === target.name && r.portal.host === at.host && r.portal.port === at.port);
    if (same !== undefined) {
      added.push({ name: same.name, url: recordUrl(same), recorded: false });
      continue;
    }
    const base = defaultNodeName(target.name, undefined);
    let name = base;
    for (let i = 2; store.has(name); i++) name = `${base}-${i}`;
    const record: NodeRecord = {
      name,
      portal: at,
      targetName: target.name,
      lun: undefined,
      startup,
      ...(credentials.user === undefined ? {} : { chapUser: credentials.user }),
      ...(credentials.targetUser === undefined ? {} : { chapTargetUser: credentials.targetUser }),
    };
    saveWithSecrets(store, record, credentials, false);
    existing.push(record);
    added.push({ name, url: recordUrl(record), recorded: true });
  }
  return added;
}
