/**
 * The iSNSP messages an iSCSI initiator and target need (RFC 4171 §5.6.5 and §5.7.5), as attribute
 * lists built and read here: a query for every target node with its portals and portal groups,
 * registration of an entity with its portals and nodes, deregistration, SCN registration, and the
 * SCN the server sends back. Requests open with the Source Attribute, then the Message Key, the
 * delimiter and the Operating Attributes (§5.6.1).
 */
import type { DiscoveredAddress, DiscoveredTarget } from "../discovery/send-targets.js";
import { EntityProtocol, IsnsFunction, IsnsStatus, IsnsTag, NodeType, RESPONSE_BIT } from "./constants.js";
import { delimiter, ipAttr, type IsnsAttribute, type IsnsMessage, nilAttr, portAttr, readIp, readPort, readString, readU32, stringAttr, u32Attr } from "./codec.js";
import { IsnsProtocolError, IsnsStatusError } from "./errors.js";
import { functionName } from "./constants.js";

/** What a request is before it gets a transaction ID. */
export interface IsnsRequest {
  readonly functionId: number;
  readonly attributes: readonly IsnsAttribute[];
  /** DevAttrReg only: RFC 4171 §5.6.5.1's replace flag. */
  readonly replace?: boolean;
}

/** Throws IsnsStatusError unless the response says Successful, and checks it answers `request`. */
export function checkResponse(response: IsnsMessage, request: number): IsnsMessage {
  if (response.functionId !== (request | RESPONSE_BIT)) {
    throw new IsnsProtocolError(`${functionName(request)} answered with ${functionName(response.functionId)}`);
  }
  if (response.status !== IsnsStatus.Successful) throw new IsnsStatusError(response.status ?? -1, functionName(request));
  return response;
}

// ---------------------------------------------------------------- DevAttrQry: targets

/** Attributes asked for, in the order objects come back (RFC 4171 §5.6.5.2: zero-length TLVs). */
const TARGET_QUERY_ATTRIBUTES = [
  IsnsTag.EntityIdentifier,
  IsnsTag.PortalIpAddress,
  IsnsTag.PortalPort,
  IsnsTag.IscsiName,
  IsnsTag.IscsiNodeType,
  IsnsTag.IscsiAlias,
  IsnsTag.PgIscsiName,
  IsnsTag.PgPortalIpAddress,
  IsnsTag.PgPortalPort,
  IsnsTag.PgTag,
] as const;

/**
 * DevAttrQry for every storage node of type Target (the Message Key, §5.6.5.2) with its entity,
 * portals and portal groups.
 */
export function targetQuery(source: string): IsnsRequest {
  return {
    functionId: IsnsFunction.DevAttrQry,
    attributes: [stringAttr(IsnsTag.IscsiName, source), u32Attr(IsnsTag.IscsiNodeType, NodeType.Target), delimiter(), ...TARGET_QUERY_ATTRIBUTES.map(nilAttr)],
  };
}

interface EntityRecord {
  readonly id: string | undefined;
  readonly portals: Array<{ host: string; port: number }>;
  readonly nodes: Array<{ name: string; type: number | undefined; alias: string | undefined }>;
  readonly groups: Array<{ name: string; host: string | undefined; port: number | undefined; tag: number | undefined }>;
}

/**
 * The objects of a DevAttrQry response's Operating Attributes (§5.6.5.2: each object's attributes
 * together, an object's key attribute first), as targets with their portals and portal group tags,
 * the same shape SendTargets gives. An entity's nodes and portals are linked by its Portal Groups
 * (§3.4); an entity that registered none has every portal reach every node with tag 1, the
 * default portal group the RFC has a server create (§5.6.5.1).
 */
export function parseTargetQueryResponse(response: IsnsMessage): DiscoveredTarget[] {
  checkResponse(response, IsnsFunction.DevAttrQry);
  const operating = afterDelimiter(response.attributes);
  const entities: EntityRecord[] = [];
  const where = "DevAttrQryRsp";
  let entity: EntityRecord | undefined;
  const current = (): EntityRecord => {
    if (entity === undefined) {
      entity = { id: undefined, portals: [], nodes: [], groups: [] };
      entities.push(entity);
    }
    return entity;
  };
  for (const a of operating) {
    switch (a.tag) {
      case IsnsTag.EntityIdentifier:
        entity = { id: readString(a, `${where} Entity Identifier`), portals: [], nodes: [], groups: [] };
        entities.push(entity);
        break;
      case IsnsTag.PortalIpAddress:
        current().portals.push({ host: readIp(a, `${where} Portal IP Address`), port: 0 });
        break;
      case IsnsTag.PortalPort: {
        const portal = current().portals.at(-1);
        if (portal === undefined) throw new IsnsProtocolError(`${where}: Portal TCP/UDP Port before any Portal IP Address`);
        portal.port = readPort(a, `${where} Portal TCP/UDP Port`).port;
        break;
      }
      case IsnsTag.IscsiName:
        current().nodes.push({ name: readString(a, `${where} iSCSI Name`), type: undefined, alias: undefined });
        break;
      case IsnsTag.IscsiNodeType:
      case IsnsTag.IscsiAlias: {
        const node = current().nodes.at(-1);
        if (node === undefined) throw new IsnsProtocolError(`${where}: attribute ${a.tag} before any iSCSI Name`);
        if (a.tag === IsnsTag.IscsiNodeType) node.type = readU32(a, `${where} iSCSI Node Type`);
        else node.alias = readString(a, `${where} iSCSI Alias`);
        break;
      }
      case IsnsTag.PgIscsiName:
        current().groups.push({ name: readString(a, `${where} PG iSCSI Name`), host: undefined, port: undefined, tag: undefined });
        break;
      case IsnsTag.PgPortalIpAddress:
      case IsnsTag.PgPortalPort:
      case IsnsTag.PgTag: {
        const group = current().groups.at(-1);
        if (group === undefined) throw new IsnsProtocolError(`${where}: portal group attribute ${a.tag} before any PG iSCSI Name`);
        if (a.tag === IsnsTag.PgPortalIpAddress) group.host = readIp(a, `${where} PG Portal IP Address`);
        else if (a.tag === IsnsTag.PgPortalPort) group.port = readPort(a, `${where} PG Portal TCP/UDP Port`).port;
        // §6.5.4: a zero-length PGT says the portal has no access to the node.
        else group.tag = a.value.length === 0 ? undefined : readU32(a, `${where} PG Tag`) & 0xffff;
        break;
      }
      default:
        // Other attributes the server chose to add are not ours to judge.
        break;
    }
  }
  const byName = new Map<string, { name: string; alias?: string; addresses: DiscoveredAddress[] }>();
  for (const e of entities) {
    for (const node of e.nodes) {
      if (node.type === undefined || (node.type & NodeType.Target) === 0) continue;
      let target = byName.get(node.name);
      if (target === undefined) {
        target = { name: node.name, ...(node.alias === undefined || node.alias === "" ? {} : { alias: node.alias }), addresses: [] };
        byName.set(node.name, target);
      }
      const groups = entities.flatMap((x) => x.groups).filter((g) => g.name === node.name);
      const addresses: DiscoveredAddress[] =
        groups.length > 0
          ? groups.flatMap((g) => (g.host === undefined || g.port === undefined || g.tag === undefined ? [] : [{ host: g.host, port: g.port, portalGroupTag: g.tag }]))
          : e.portals.map((p) => ({ host: p.host, port: p.port, portalGroupTag: 1 }));
      for (const address of addresses) {
        if (!target.addresses.some((x) => x.host === address.host && x.port === address.port && x.portalGroupTag === address.portalGroupTag)) target.addresses.push(address);
      }
    }
  }
  return [...byName.values()];
}

function afterDelimiter(attributes: readonly IsnsAttribute[]): readonly IsnsAttribute[] {
  const i = attributes.findIndex((a) => a.tag === IsnsTag.Delimiter);
  return i < 0 ? attributes : attributes.slice(i + 1);
}

// ---------------------------------------------------------------- DevAttrReg / DevDereg

export interface EntityRegistration {
  /** The Entity Identifier: unique on the server; the key of the registration. */
  readonly entityId: string;
  /** Seconds asked for (RFC 4171 §6.2.6); the server may grant another. */
  readonly registrationPeriod?: number;
  readonly portals: ReadonlyArray<{ readonly host: string; readonly port: number; readonly scnPort?: number }>;
  readonly nodes: ReadonlyArray<{ readonly name: string; readonly type: number; readonly alias?: string }>;
  /** Portal groups; every node on every portal with tag 1 unless told. */
  readonly portalGroups?: ReadonlyArray<{ readonly name: string; readonly host: string; readonly port: number; readonly tag: number }>;
}

/**
 * DevAttrReg of an entity with its portals, nodes and portal groups (§5.6.5.1). The Message Key
 * is the Entity Identifier, repeated first among the Operating Attributes; sent again, it
 * refreshes the registration (§6.2.6: within the period, or the server removes the entity).
 * `source` is one of the entity's own nodes.
 */
export function registrationRequest(source: string, reg: EntityRegistration, options: { readonly replace?: boolean } = {}): IsnsRequest {
  const attributes: IsnsAttribute[] = [
    stringAttr(IsnsTag.IscsiName, source),
    stringAttr(IsnsTag.EntityIdentifier, reg.entityId),
    delimiter(),
    stringAttr(IsnsTag.EntityIdentifier, reg.entityId),
    u32Attr(IsnsTag.EntityProtocol, EntityProtocol.Iscsi),
  ];
  if (reg.registrationPeriod !== undefined) attributes.push(u32Attr(IsnsTag.RegistrationPeriod, reg.registrationPeriod));
  for (const p of reg.portals) {
    attributes.push(ipAttr(IsnsTag.PortalIpAddress, p.host), portAttr(IsnsTag.PortalPort, p.port));
    if (p.scnPort !== undefined) attributes.push(portAttr(IsnsTag.ScnPort, p.scnPort));
  }
  for (const n of reg.nodes) {
    attributes.push(stringAttr(IsnsTag.IscsiName, n.name), u32Attr(IsnsTag.IscsiNodeType, n.type));
    if (n.alias !== undefined) attributes.push(stringAttr(IsnsTag.IscsiAlias, n.alias));
  }
  const groups = reg.portalGroups ?? reg.nodes.flatMap((n) => reg.portals.map((p) => ({ name: n.name, host: p.host, port: p.port, tag: 1 })));
  for (const g of groups) {
    attributes.push(
      stringAttr(IsnsTag.PgIscsiName, g.name),
      ipAttr(IsnsTag.PgPortalIpAddress, g.host),
      portAttr(IsnsTag.PgPortalPort, g.port),
      u32Attr(IsnsTag.PgTag, g.tag),
    );
  }
  return { functionId: IsnsFunction.DevAttrReg, attributes, ...(options.replace === true ? { replace: true } : {}) };
}

/** What a DevAttrRegRsp tells: the Registration Period granted (§6.2.6), when the server says. */
export function parseRegistrationResponse(response: IsnsMessage): { readonly registrationPeriod: number | undefined } {
  checkResponse(response, IsnsFunction.DevAttrReg);
  const period = response.attributes.find((a) => a.tag === IsnsTag.RegistrationPeriod);
  return { registrationPeriod: period === undefined ? undefined : readU32(period, "DevAttrRegRsp Registration Period") };
}

/** DevDereg of a whole entity (§5.6.5.4: no Message Key, the object in the Operating Attributes). */
export function deregistrationRequest(source: string, entityId: string): IsnsRequest {
  return { functionId: IsnsFunction.DevDereg, attributes: [stringAttr(IsnsTag.IscsiName, source), delimiter(), stringAttr(IsnsTag.EntityIdentifier, entityId)] };
}

/**
 * When to refresh a registration granted for `periodSeconds`: at two thirds of it, so one lost
 * attempt still leaves time for another before the server drops the entity. Milliseconds.
 */
export function refreshDelayMs(periodSeconds: number): number {
  return Math.max(1_000, Math.floor((periodSeconds * 1000 * 2) / 3));
}

// ---------------------------------------------------------------- SCN

/** SCNReg (§5.6.5.5): the Message Key is the node's own name, the operating attribute its bitmap. */
export function scnRegistrationRequest(source: string, bitmap: number): IsnsRequest {
  return {
    functionId: IsnsFunction.SCNReg,
    attributes: [stringAttr(IsnsTag.IscsiName, source), stringAttr(IsnsTag.IscsiName, source), delimiter(), u32Attr(IsnsTag.IscsiScnBitmap, bitmap)],
  };
}

export interface ScnChange {
  /** The node that changed. */
  readonly name: string;
  /** What happened to it (ScnBit). */
  readonly bitmap: number;
}

export interface ScnNotification {
  /** The node the notification is for (ours). */
  readonly destination: string;
  /** The server's clock, seconds since 1970 (§6.2.4). */
  readonly timestamp: number | undefined;
  readonly changes: readonly ScnChange[];
}

/**
 * An SCN (§5.6.5.13): the destination's iSCSI Name, a Timestamp, then per changed node its SCN
 * Bitmap and its iSCSI Name (and the discovery domains involved, which we skip). No Source
 * Attribute: the server sends it.
 */
export function parseScn(message: IsnsMessage): ScnNotification {
  const where = "SCN";
  const list = message.attributes.filter((a) => a.tag !== IsnsTag.Delimiter);
  const first = list[0];
  if (first === undefined || first.tag !== IsnsTag.IscsiName) throw new IsnsProtocolError(`${where}: no destination iSCSI Name first`);
  const destination = readString(first, `${where} destination`);
  let timestamp: number | undefined;
  const changes: ScnChange[] = [];
  let bitmap: number | undefined;
  for (const a of list.slice(1)) {
    if (a.tag === IsnsTag.Timestamp) {
      if (a.value.length !== 8) throw new IsnsProtocolError(`${where}: a Timestamp of ${a.value.length} bytes, not 8`);
      timestamp = readU32(u32View(a.value.subarray(0, 4)), where) * 2 ** 32 + readU32(u32View(a.value.subarray(4)), where);
    } else if (a.tag === IsnsTag.IscsiScnBitmap) {
      bitmap = readU32(a, `${where} SCN Bitmap`);
    } else if (a.tag === IsnsTag.IscsiName) {
      if (bitmap === undefined) throw new IsnsProtocolError(`${where}: a changed node's iSCSI Name without its SCN Bitmap`);
      changes.push({ name: readString(a, `${where} source`), bitmap });
      bitmap = undefined;
    }
  }
  return { destination, timestamp, changes };
}

function u32View(value: Uint8Array): IsnsAttribute {
  return { tag: IsnsTag.Timestamp, value };
}

/** Our answer to a server's SCN (§5.7.5.8): Successful and the destination we are. */
export function scnResponse(transactionId: number, destination: string): IsnsMessage {
  return { functionId: IsnsFunction.SCN | RESPONSE_BIT, transactionId, flags: 0x8000, status: IsnsStatus.Successful, attributes: [stringAttr(IsnsTag.IscsiName, destination)] };
}

/** An answer to a server request we do not serve (ESI when we registered none, ...). */
export function notSupportedResponse(request: IsnsMessage): IsnsMessage {
  return { functionId: request.functionId | RESPONSE_BIT, transactionId: request.transactionId, flags: 0x8000, status: IsnsStatus.MessageNotSupported, attributes: [] };
}
