/**
 * The page: discover targets through the gateway that served it, log in (CHAP included), look at
 * a LUN (INQUIRY, VPD, capacity, blocks in hex), write a file to it, and watch IOPS and latency of
 * a random-read workload. The iSCSI initiator runs here, in the page (src/browser); the gateway
 * only relays bytes. CHAP secrets are read from their fields when needed, handed to the session,
 * and the fields cleared once logged in: nothing is stored.
 */
import { type ChapOptions, connectVia, type DiscoveredTarget, type GatewayInfo, INFO_PATH, type IscsiSession, type Lun, pageGateway } from "../browser/index.js";
import { parseSupportedVpdPages } from "../core/scsi/vpd.js";
import { LiveChart } from "./chart.js";
import { byId, fill, h } from "./dom.js";
import { formatBytes, formatCount, formatMs, hex } from "./format.js";
import { hexView } from "./hexview.js";
import { LunMap, MAP_COLORS } from "./lunmap.js";
import { writeFile } from "./transfer.js";
import { capacityView, identityView, type LinkState, pathDiagram, sessionView, targetItem, vpdView } from "./views.js";
import { RandomReads } from "./workload.js";

const gateway = pageGateway(location);
const iscsi = connectVia(gateway);

/** VPD pages shown when the LUN lists them, in this order. */
const VPD_PAGES = [0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2];
/** Most bytes the hex view shows at once (rows are DOM elements). */
const HEX_LIMIT = 16 * 1024;

interface Open {
  readonly session: IscsiSession;
  lun?: Lun;
  blockSize: number;
  blocks: number;
  map?: LunMap;
}

let open: Open | undefined;
let workload: RandomReads | undefined;
let portalShown: string | undefined;
const chart = new LiveChart(byId<HTMLCanvasElement>("chart"));

// ------------------------------------------------------------------ feedback

function log(text: string, kind: "info" | "ok" | "error" = "info"): void {
  const time = new Date().toLocaleTimeString([], { hour12: false });
  const list = byId("log");
  list.prepend(h("li", { class: kind }, h("time", {}, time), text));
  while (list.children.length > 200) list.lastElementChild?.remove();
}

function showError(error: unknown): void {
  const e = error as { code?: string; message?: string };
  const message = e.message ?? String(error);
  const banner = byId("error");
  fill(banner, e.code === undefined ? "" : h("span", { class: "code" }, e.code), message, h("button", { type: "button", class: "close", "aria-label": "dismiss", onclick: () => (banner.hidden = true) }, "×"));
  banner.hidden = false;
  log(message, "error");
}

function clearError(): void {
  byId("error").hidden = true;
}

function setPath(state: LinkState): void {
  fill(byId("path"), pathDiagram(location.host, portalShown, state));
  byId("path").dataset["state"] = state;
}

/** Runs an action with its button disabled and any failure shown. */
async function action(button: HTMLButtonElement | undefined, body: () => Promise<void>): Promise<void> {
  clearError();
  if (button !== undefined) button.disabled = true;
  try {
    await body();
  } catch (error) {
    showError(error);
  } finally {
    if (button !== undefined) button.disabled = false;
  }
}

// ------------------------------------------------------------------ target: discover, log in

function inputValue(id: string): string {
  return byId<HTMLInputElement>(id).value.trim();
}

/** CHAP from the fields, or undefined; `mutual` false leaves the target's secret out (discovery). */
function chapFromFields(mutual: boolean): ChapOptions | undefined {
  const username = inputValue("chap-user");
  const secret = byId<HTMLInputElement>("chap-secret").value;
  if (username === "" && secret === "") return undefined;
  if (username === "" || secret === "") throw new Error("CHAP needs both a user and a secret (or neither)");
  const targetUsername = inputValue("target-user");
  const targetSecret = byId<HTMLInputElement>("target-secret").value;
  if (!mutual || (targetUsername === "" && targetSecret === "")) return { username, secret };
  if (targetUsername === "" || targetSecret === "") throw new Error("mutual CHAP needs both the target's user and its secret (or neither)");
  return { username, secret, targetUsername, targetSecret };
}

function initiatorName(): { initiatorName?: string } {
  const name = inputValue("initiator-name");
  return name === "" ? {} : { initiatorName: name };
}

async function discover(): Promise<void> {
  const portal = inputValue("portal");
  portalShown = portal;
  setPath("opening");
  const chap = chapFromFields(false);
  log(`discovering targets at ${portal}${chap === undefined ? "" : ` as ${chap.username}`}`);
  let targets: DiscoveredTarget[];
  try {
    targets = await iscsi.discover(portal, { ...initiatorName(), ...(chap === undefined ? {} : { chap }) });
  } catch (error) {
    setPath("failed");
    throw error;
  }
  setPath(open === undefined ? "idle" : "up");
  fill(byId("targets"), ...targets.map((t) => targetItem(t, () => void action(undefined, () => login(portal, t.name)))));
  if (targets.length === 0) fill(byId("targets"), h("li", { class: "muted" }, "no targets at this portal for this initiator"));
  log(`found ${targets.length} target(s) at ${portal}`, "ok");
}

async function login(portal: string, targetName: string): Promise<void> {
  if (open !== undefined) await logout();
  portalShown = portal;
  setPath("opening");
  const chap = chapFromFields(true);
  log(`logging in to ${targetName} at ${portal}${chap === undefined ? "" : ` with CHAP as ${chap.username}${chap.targetUsername === undefined ? "" : " (mutual)"}`}`);
  let session: IscsiSession;
  try {
    session = await iscsi.openSession({ portal, targetName, ...initiatorName(), ...(chap === undefined ? {} : { chap }) });
  } catch (error) {
    setPath("failed");
    throw error;
  }
  // The session holds what it needs for a reconnect; the fields need not.
  for (const id of ["chap-secret", "target-secret"]) byId<HTMLInputElement>(id).value = "";
  open = { session, blockSize: 512, blocks: 0 };
  setPath("up");
  session.on("closed", (error) => {
    if (open?.session !== session) return;
    if (error !== undefined) showError(error);
    void closeSession("the session ended");
  });
  session.on("recovery", (phase, record) => log(`recovery ${phase}: ${record.cause}`, phase === "gave-up" ? "error" : "info"));
  const authentication = chap === undefined ? "none" : chap.targetUsername === undefined ? `CHAP as ${chap.username}` : `mutual CHAP as ${chap.username}`;
  const panel = byId("session");
  fill(panel, sessionView(session, () => void action(undefined, logout), authentication));
  panel.hidden = false;
  log(`logged in to ${targetName}`, "ok");
  const luns = await session.reportLuns();
  const select = byId<HTMLSelectElement>("lun-select");
  fill(select, ...luns.map((n) => h("option", { value: n }, `LUN ${n}`)));
  const first = luns.find((n) => n !== 0) ?? luns[0];
  if (first === undefined) throw new Error(`${targetName} reports no LUNs`);
  select.value = String(first);
  await selectLun(first);
}

async function closeSession(why: string): Promise<void> {
  await stopWorkload();
  open = undefined;
  for (const id of ["lun-body", "lun-select", "blocks-card", "write-card", "live-card", "session"]) byId(id).hidden = true;
  byId("lun-empty").hidden = false;
  setPath("idle");
  log(why);
}

async function logout(): Promise<void> {
  const current = open;
  if (current === undefined) return;
  await stopWorkload();
  open = undefined;
  try {
    await current.session.logout();
  } finally {
    await closeSession(`logged out of ${current.session.targetName}`);
  }
}

// ------------------------------------------------------------------ the LUN

async function selectLun(number: number): Promise<void> {
  const current = open;
  if (current === undefined) return;
  await stopWorkload();
  const lun = current.session.lun(number);
  current.lun = lun;
  const inquiry = await lun.inquiry();
  const capacity = await lun.readCapacity();
  current.blockSize = capacity.blockSize;
  current.blocks = Number(capacity.blocks);
  fill(byId("identity"), identityView(inquiry));
  fill(byId("capacity"), capacityView(capacity));
  const pages = new Map<number, Uint8Array>();
  try {
    const supported = parseSupportedVpdPages(await lun.vpdRaw(0x00)).pages;
    for (const page of VPD_PAGES) if (supported.includes(page)) pages.set(page, await lun.vpdRaw(page));
  } catch (error) {
    log(`VPD pages: ${(error as Error).message}`, "error");
  }
  fill(byId("vpd"), vpdView(pages, capacity.blockSize));
  for (const id of ["lun-body", "lun-select", "blocks-card", "write-card", "live-card"]) byId(id).hidden = false;
  byId("lun-empty").hidden = true;
  current.map = new LunMap(byId<HTMLCanvasElement>("lun-map"), current.blocks);
  fill(
    byId("map-legend"),
    `${formatCount(current.map.blocksPerCell)} blocks a cell: `,
    ...(
      [
        ["written", MAP_COLORS.written],
        ["read", `rgb(${MAP_COLORS.read})`],
        ["in the hex view", MAP_COLORS.viewed],
      ] as const
    ).map(([name, color]) => {
      // Through the CSSOM: the page's CSP refuses inline style attributes.
      const swatch = h("span", { class: "swatch" });
      swatch.style.setProperty("--c", color);
      return h("span", { class: "swatch-item" }, swatch, name);
    }),
  );
  byId<HTMLInputElement>("read-lba").max = String(current.blocks - 1);
  byId<HTMLInputElement>("write-lba").max = String(current.blocks - 1);
  chart.clear();
  log(`LUN ${number}: ${inquiry.vendor} ${inquiry.product}, ${formatBytes(capacity.bytes)}`, "ok");
  await readBlocks();
}

async function readBlocks(): Promise<void> {
  const current = open;
  if (current?.lun === undefined) return;
  const lba = Math.max(0, Math.min(current.blocks - 1, Number(byId<HTMLInputElement>("read-lba").value) || 0));
  const most = Math.max(1, Math.floor(HEX_LIMIT / current.blockSize));
  const count = Math.max(1, Math.min(most, current.blocks - lba, Number(byId<HTMLInputElement>("read-count").value) || 1));
  const started = performance.now();
  const bytes = await current.lun.read(lba, count);
  const took = performance.now() - started;
  const zero = bytes.every((b) => b === 0);
  fill(byId("read-info"), `LBA ${formatCount(lba)}–${formatCount(lba + count - 1)} · ${formatBytes(bytes.length)} in ${formatMs(took)}${zero ? " · all zeros" : ""}`);
  fill(byId("hex"), hexView(bytes, lba * current.blockSize, current.blockSize));
  current.map?.markViewed(lba, count);
}

function stepBlocks(direction: 1 | -1): void {
  const input = byId<HTMLInputElement>("read-lba");
  const count = Number(byId<HTMLInputElement>("read-count").value) || 1;
  input.value = String(Math.max(0, (Number(input.value) || 0) + direction * count));
  void action(undefined, readBlocks);
}

// ------------------------------------------------------------------ writing a file

async function writeChosenFile(): Promise<void> {
  const current = open;
  if (current?.lun === undefined) return;
  const file = byId<HTMLInputElement>("write-file").files?.[0];
  if (file === undefined) throw new Error("choose a file to write first");
  const lba = Number(byId<HTMLInputElement>("write-lba").value) || 0;
  const verify = byId<HTMLInputElement>("write-verify").checked;
  const status = byId("write-status");
  const bar = byId("write-bar");
  delete status.dataset["verified"];
  bar.className = "bar";
  log(`writing ${file.name} (${formatBytes(file.size)}) at LBA ${formatCount(lba)}`);
  const bytes = new Uint8Array(await file.arrayBuffer());
  const result = await writeFile(current.lun, bytes, lba, current.blockSize, current.blocks, verify, (p) => {
    const fraction = p.done / p.total;
    bar.style.width = `${(p.phase === "writing" ? (verify ? fraction / 2 : fraction) : 0.5 + fraction / 2) * 100}%`;
    fill(status, `${p.phase} ${formatBytes(p.done)} of ${formatBytes(p.total)}`);
  });
  current.map?.markWritten(lba, result.blocks);
  const rate = formatBytes((result.bytes / result.writeMs) * 1000);
  const padded = result.padding === 0 ? "" : ` (+${result.padding} zero bytes to fill the last block)`;
  const written = `wrote ${formatBytes(result.bytes)}${padded} at LBA ${formatCount(lba)} in ${formatMs(result.writeMs)} (${rate}/s)`;
  status.dataset["crc"] = hex(result.crcWritten, 8);
  if (result.firstDifference === undefined) {
    fill(status, written, h("span", { class: "crc" }, `CRC32C ${hex(result.crcWritten, 8)}`));
    log(written, "ok");
  } else if (result.firstDifference < 0) {
    status.dataset["verified"] = "true";
    bar.className = "bar ok";
    fill(status, h("span", { class: "badge ok" }, "✓ verified"), written, h("span", { class: "crc" }, `CRC32C written ${hex(result.crcWritten, 8)} = read back ${hex(result.crcRead ?? 0, 8)}`));
    log(`${written}; read back identical`, "ok");
  } else {
    status.dataset["verified"] = "false";
    bar.className = "bar bad";
    const at = lba * current.blockSize + result.firstDifference;
    fill(status, h("span", { class: "badge bad" }, "✗ differs"), `${written}; read back differs from byte ${formatCount(at)} of the LUN`);
    throw new Error(`read back differs from what was written, first at byte ${at}`);
  }
  // Show what was written where the hex view is.
  byId<HTMLInputElement>("read-lba").value = String(lba);
  await readBlocks();
}

// ------------------------------------------------------------------ the live workload

async function stopWorkload(): Promise<void> {
  const running = workload;
  if (running === undefined) return;
  workload = undefined;
  await running.stop();
  fill(byId("live-toggle"), "Start");
  byId("live-card").classList.remove("running");
  log(`workload stopped after ${formatCount(running.reads)} reads`);
}

function startWorkload(): void {
  const current = open;
  if (current?.lun === undefined) return;
  const bytes = Number(byId<HTMLSelectElement>("live-size").value);
  const depth = Number(byId<HTMLSelectElement>("live-depth").value);
  chart.clear();
  const numbers = byId("live-numbers");
  const run = new RandomReads(current.lun, current.blocks, current.blockSize, {
    bytes,
    depth,
    onRead: (lba) => current.map?.markRead(lba),
    onSample: (s) => {
      chart.add(s);
      fill(
        numbers,
        h("span", { class: "n" }, h("b", {}, formatCount(Math.round(s.iops))), " IOPS"),
        h("span", { class: "n" }, h("b", {}, formatMs(s.meanMs)), " mean"),
        h("span", { class: "n" }, h("b", {}, formatMs(s.p99Ms)), " p99"),
        h("span", { class: "n muted" }, `${formatCount(run.reads)} reads`),
      );
      numbers.dataset["iops"] = String(Math.round(s.iops));
      numbers.dataset["reads"] = String(run.reads);
      if (run.failure !== undefined && workload === run) {
        showError(run.failure);
        void stopWorkload();
      }
    },
  });
  workload = run;
  run.start();
  fill(byId("live-toggle"), "Stop");
  byId("live-card").classList.add("running");
  log(`random ${formatBytes(bytes)} reads, queue depth ${depth}`);
}

// ------------------------------------------------------------------ wiring

function on(id: string, event: string, handler: (event: Event) => void): void {
  byId(id).addEventListener(event, handler);
}

on("discover-form", "submit", (e) => {
  e.preventDefault();
  void action(byId<HTMLButtonElement>("discover"), discover);
});
on("lun-select", "change", () => void action(undefined, () => selectLun(Number(byId<HTMLSelectElement>("lun-select").value))));
on("read-form", "submit", (e) => {
  e.preventDefault();
  void action(undefined, readBlocks);
});
on("read-prev", "click", () => stepBlocks(-1));
on("read-next", "click", () => stepBlocks(1));
on("write-file", "change", () => {
  const file = byId<HTMLInputElement>("write-file").files?.[0];
  fill(byId("write-file-name"), file === undefined ? "Choose a file…" : `${file.name} · ${formatBytes(file.size)}`);
});
on("write-form", "submit", (e) => {
  e.preventDefault();
  void action((e as SubmitEvent).submitter as HTMLButtonElement | undefined, writeChosenFile);
});
on("live-form", "submit", (e) => {
  e.preventDefault();
  if (workload === undefined) startWorkload();
  else void action(undefined, stopWorkload);
});

async function start(): Promise<void> {
  setPath("idle");
  chart.draw();
  log(`gateway ${gateway}`);
  const response = await fetch(INFO_PATH);
  if (!response.ok) throw new Error(`the gateway did not say which portals it allows (${INFO_PATH}: HTTP ${response.status})`);
  const info = (await response.json()) as GatewayInfo;
  fill(byId("portals"), ...info.allow.map((p) => h("option", { value: p })));
  const portal = byId<HTMLInputElement>("portal");
  if (portal.value === "" && info.allow[0] !== undefined) portal.value = info.allow[0];
  log(`the gateway relays to ${info.allow.join(", ")}`);
}

void action(undefined, start);
