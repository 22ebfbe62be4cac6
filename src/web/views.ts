/**
 * What the page shows of a session and a LUN: the connection path as a picture, INQUIRY as a
 * name plate, capacity as a bar, the VPD pages as small cards of facts, the negotiated parameters.
 */
import type { Capacity, DiscoveredTarget, IscsiSession } from "../browser/index.js";
import type { InquiryData } from "../core/scsi/inquiry.js";
import {
  type BlockDeviceCharacteristicsPage,
  type BlockLimitsPage,
  type LogicalBlockProvisioningPage,
  parseBlockDeviceCharacteristicsPage,
  parseBlockLimitsPage,
  parseLogicalBlockProvisioningPage,
  parseSupportedVpdPages,
  parseUnitSerialNumberPage,
  vpdPageName,
} from "../core/scsi/vpd.js";
import { type DesignatorValue, parseDeviceIdentificationPage } from "../core/scsi/vpd-device-id.js";
import { facts, h } from "./dom.js";
import { formatBytes, formatCount, hex } from "./format.js";

// ------------------------------------------------------------------ the connection path

export type LinkState = "idle" | "opening" | "up" | "failed";

const SVG = "http://www.w3.org/2000/svg";

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attributes)) element.setAttribute(k, String(v));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** Browser, gateway and target as three boxes, the links between them coloured by state. */
export function pathDiagram(gateway: string, target: string | undefined, state: LinkState): SVGSVGElement {
  const root = svg("svg", { viewBox: "0 0 560 64", class: `path-svg ${state}`, role: "img" });
  root.appendChild(svg("title", {}, `this page → gateway ${gateway} → ${target ?? "target"}: ${state}`));
  const boxes: [string, string][] = [
    ["this page", "WebSocket"],
    ["gateway", gateway],
    ["target", target ?? "not connected"],
  ];
  boxes.forEach(([title, sub], i) => {
    const x = 4 + i * 196;
    root.appendChild(svg("rect", { x, y: 6, width: 160, height: 52, rx: 10, class: `node n${i}` }));
    root.appendChild(svg("text", { x: x + 80, y: 28, class: "node-title" }, title));
    root.appendChild(svg("text", { x: x + 80, y: 46, class: "node-sub" }, sub.length > 26 ? `${sub.slice(0, 25)}…` : sub));
  });
  for (let i = 0; i < 2; i++) {
    const x = 164 + i * 196;
    root.appendChild(svg("line", { x1: x + 2, y1: 32, x2: x + 34, y2: 32, class: `link ${i === 0 || state !== "idle" ? state : "idle"}` }));
    root.appendChild(svg("text", { x: x + 18, y: 24, class: "link-label" }, i === 0 ? "ws" : "tcp"));
  }
  return root;
}

// ------------------------------------------------------------------ discovery and session

export function targetItem(target: DiscoveredTarget, onLogin: () => void): HTMLLIElement {
  const addresses = target.addresses.map((a) => `${a.host.includes(":") ? `[${a.host}]` : a.host}:${a.port}`).join(", ");
  return h(
    "li",
    { class: "target", "data-testid": "target" },
    h("div", {}, h("div", { class: "iqn" }, target.name), h("div", { class: "muted" }, target.alias === undefined ? addresses : `${target.alias} · ${addresses}`)),
    h("button", { type: "button", onclick: onLogin, "data-testid": "login" }, "Log in"),
  );
}

export function sessionView(session: IscsiSession, onLogout: () => void, chap: string): HTMLElement {
  const p = session.params;
  const c = session.connections[0];
  return h(
    "div",
    {},
    h(
      "div",
      { class: "session-head" },
      h("span", { class: "dot up" }),
      h("div", {}, h("div", { class: "iqn" }, session.targetName), h("div", { class: "muted" }, `logged in as ${session.initiatorName}`)),
      h("button", { type: "button", class: "quiet", onclick: onLogout, "data-testid": "logout" }, "Log out"),
    ),
    facts([
      ["authentication", chap],
      ["digests", c === undefined ? undefined : `header ${c.headerDigest ? "CRC32C" : "none"}, data ${c.dataDigest ? "CRC32C" : "none"}`],
      ["data segments", c === undefined ? undefined : `send ≤ ${formatBytes(c.maxSendDataSegmentLength)}, receive ≤ ${formatBytes(c.maxRecvDataSegmentLength)}`],
      ["bursts", `first ${formatBytes(p.firstBurstLength)}, max ${formatBytes(p.maxBurstLength)}`],
      ["immediate data", `${p.immediateData ? "yes" : "no"}, InitialR2T ${p.initialR2T ? "yes" : "no"}`],
      ["error recovery", `level ${p.errorRecoveryLevel}`],
      ["TSIH / ISID", `${hex(session.tsih, 4)} / ${hex(session.isid, 12)}`],
    ]),
  );
}

// ------------------------------------------------------------------ the LUN

export function identityView(inquiry: InquiryData): HTMLElement {
  return h(
    "div",
    { class: "plate" },
    h("div", { class: "plate-name" }, h("span", { class: "vendor" }, inquiry.vendor || "?"), " ", inquiry.product || "?"),
    h(
      "div",
      { class: "chips" },
      h("span", { class: "chip" }, inquiry.peripheralDeviceTypeName),
      h("span", { class: "chip" }, `rev ${inquiry.revision || "?"}`),
      h("span", { class: "chip" }, inquiry.versionName),
      inquiry.cmdQue && h("span", { class: "chip" }, "command queuing"),
      inquiry.removable && h("span", { class: "chip" }, "removable"),
      inquiry.thirdPartyCopy && h("span", { class: "chip" }, "EXTENDED COPY"),
      inquiry.tpgs !== 0 && h("span", { class: "chip" }, "ALUA"),
    ),
  );
}

export function capacityView(capacity: Capacity): HTMLElement {
  return h(
    "div",
    {},
    h("div", { class: "big" }, formatBytes(capacity.bytes)),
    facts([
      ["blocks", `${formatCount(capacity.blocks)} × ${formatCount(capacity.blockSize)} B`],
      ["bytes", formatCount(capacity.bytes)],
      ["physical block", capacity.logicalBlocksPerPhysicalBlock === 1 ? "= logical block" : `${capacity.logicalBlocksPerPhysicalBlock} logical blocks`],
      ["provisioning", capacity.thinProvisioned ? `thin${capacity.unmappedReadsZero ? ", unmapped blocks read as zeros" : ""}` : "full"],
    ]),
  );
}

function designatorText(v: DesignatorValue): string {
  switch (v.kind) {
    case "naa":
      return `naa.${v.hex}`;
    case "t10-vendor-id":
      return `${v.vendorId} ${v.vendorSpecific}`;
    case "eui-64":
      return `eui.${v.hex}`;
    case "scsi-name-string":
      return v.name;
    case "relative-target-port":
      return `port ${v.port}`;
    case "target-port-group":
    case "logical-unit-group":
      return `group ${v.group}`;
    case "uuid":
      return v.uuid;
    case "vendor-specific":
      return v.text ?? v.hex;
    case "md5":
    case "protocol-specific-port":
    case "undecoded":
      return v.hex;
  }
}

function blockLimitsFacts(b: BlockLimitsPage, blockSize: number): HTMLElement {
  const blocks = (n: number | undefined): string | undefined => (n === undefined || n === 0 ? undefined : `${formatCount(n)} blocks (${formatBytes(n * blockSize)})`);
  return facts([
    ["max transfer", blocks(b.maximumTransferLength) ?? "not limited"],
    ["optimal transfer", blocks(b.optimalTransferLength)],
    ["granularity", blocks(b.optimalTransferLengthGranularity)],
    ["max unmap", blocks(b.maximumUnmapLbaCount)],
    ["compare and write", b.maximumCompareAndWriteLength === 0 ? "not supported" : blocks(b.maximumCompareAndWriteLength)],
  ]);
}

function provisioningFacts(p: LogicalBlockProvisioningPage): HTMLElement {
  return facts([
    ["type", p.provisioningTypeName],
    ["UNMAP", p.lbpu ? "yes" : "no"],
    ["WRITE SAME unmap", p.lbpws ? "yes" : "no"],
    ["unmapped reads", ["anything", "zeros", "the initialization pattern"][p.lbprz] ?? `LBPRZ ${p.lbprz}`],
  ]);
}

function characteristicsFacts(p: BlockDeviceCharacteristicsPage): HTMLElement {
  return facts([
    ["rotation", p.mediumRotationRateName],
    ["form factor", p.nominalFormFactorName],
  ]);
}

/** One card per VPD page the LUN lists; a page that fails to parse shows its bytes' length and why. */
export function vpdView(pages: ReadonlyMap<number, Uint8Array>, blockSize: number): HTMLElement {
  const cards: HTMLElement[] = [];
  for (const [code, bytes] of pages) {
    let body: HTMLElement;
    try {
      switch (code) {
        case 0x00:
          body = h("div", { class: "chips" }, ...parseSupportedVpdPages(bytes).pages.map((p) => h("span", { class: "chip mono", title: vpdPageName(p) }, `${hex(p, 2)} ${vpdPageName(p)}`)));
          break;
        case 0x80:
          body = h("div", { class: "mono" }, parseUnitSerialNumberPage(bytes).serialNumber || "(empty)");
          break;
        case 0x83:
          body = h(
            "table",
            { class: "designators" },
            ...parseDeviceIdentificationPage(bytes).designators.map((d) =>
              h("tr", {}, h("td", {}, d.associationName), h("td", {}, d.designatorTypeName), h("td", { class: "mono" }, designatorText(d.value))),
            ),
          );
          break;
        case 0xb0:
          body = blockLimitsFacts(parseBlockLimitsPage(bytes), blockSize);
          break;
        case 0xb1:
          body = characteristicsFacts(parseBlockDeviceCharacteristicsPage(bytes));
          break;
        case 0xb2:
          body = provisioningFacts(parseLogicalBlockProvisioningPage(bytes));
          break;
        default:
          body = h("div", { class: "muted" }, `${bytes.length} bytes`);
      }
    } catch (error) {
      body = h("div", { class: "muted" }, `not decoded: ${(error as Error).message}`);
    }
    cards.push(h("div", { class: "vpd-page", "data-page": hex(code, 2) }, h("h3", {}, h("span", { class: "code" }, hex(code, 2)), vpdPageName(code)), body));
  }
  return h("div", { class: "vpd-grid" }, ...cards);
}
