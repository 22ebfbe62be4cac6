/**
 * The web page in a real browser: headless Chromium loads it from the gateway, logs in to tgtd
 * through the gateway with CHAP, writes a file and reads it back (checked in the page, and again
 * from Node by QEMU's own iSCSI initiator), and runs the live chart; the gateway refuses a
 * destination it does not allow and a page of another origin. A screenshot of the page is kept in
 * test-results/browser/.
 */
import { existsSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import * as net from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startGateway, type Gateway, type RefusalInfo } from "../../src/gateway/index.js";
import { qemuImgConvert } from "../support/peers.js";
import { checkOk, runCommand } from "../support/processes.js";
import { Tgtd } from "../support/tgtd.js";
import { makeTempDir, type TempDir } from "../support/tmp.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
const ARTEFACTS = join(ROOT, "test-results/browser");
const CHROMIUM = "/usr/bin/chromium";
const IQN = "iqn.2026-11.test:browser";
const CHAP = { user: "alice", secret: "browser-secret-12" };
const LUN_BYTES = 64 << 20;
/** Where the page writes its file, in 512-byte blocks. */
const WRITE_LBA = 2048;

let tgtd: Tgtd;
let gateway: Gateway;
let browser: Browser;
let dir: TempDir;
const refusals: RefusalInfo[] = [];
const pages: Page[] = [];

/** A file whose bytes say where they are, and that is not a whole number of blocks. */
function patternFile(length: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 251 + (i >>> 9) * 7 + 13) & 0xff;
  return b;
}

async function openPage(url: string): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
  pages.push(page);
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  await page.goto(url);
  return { page, problems };
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}: install it with "apt-get install -y chromium"`);
  // The page as the gateway serves it: bundled from src/web by the build script.
  checkOk(await runCommand("node", [join(ROOT, "scripts/build-web.mjs")], { timeoutMs: 60_000 }));
  dir = await makeTempDir("iscsi-ts-browser-");
  tgtd = await Tgtd.start();
  await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: 1, file: { size: LUN_BYTES } }] });
  await tgtd.addAccount(CHAP.user, CHAP.secret);
  await tgtd.bindAccount(1, CHAP.user);
  gateway = await startGateway({ host: "127.0.0.1", port: 0, allow: [tgtd.portal], webRoot: join(ROOT, "dist/web") });
  gateway.on("refused", (r) => refusals.push(r));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  await mkdir(ARTEFACTS, { recursive: true });
});

afterEach(async () => {
  for (const page of pages.splice(0)) await page.close();
});

afterAll(async () => {
  await browser?.close();
  await gateway?.close();
  await tgtd?.stop();
  await dir?.remove();
});

describe("the web page, served by the gateway, in Chromium", () => {
  it("logs in to tgtd with CHAP, shows the LUN, writes a file that reads back the same in the page and from QEMU, and draws live IOPS", async () => {
    const { page, problems } = await openPage(gateway.url);
    await expect.poll(() => page.getByTestId("portal").inputValue()).toBe(tgtd.portal);
    await page.screenshot({ path: join(ARTEFACTS, "start.png") });

    await page.getByTestId("chap-user").fill(CHAP.user);
    await page.getByTestId("chap-secret").fill(CHAP.secret);
    await page.getByTestId("discover").click();
    const target = page.getByTestId("target");
    await target.filter({ hasText: IQN }).waitFor();
    await target.filter({ hasText: IQN }).getByTestId("login").click();

    // INQUIRY, capacity and VPD pages from tgtd, as the page shows them.
    await expect.poll(() => page.getByTestId("inquiry").textContent(), { timeout: 15_000 }).toMatch(/IET\s*VIRTUAL-DISK/);
    expect(await page.getByTestId("capacity").textContent()).toMatch(/^64 MiB.*131,072 × 512 B/);
    // The VPD pages come after INQUIRY and capacity are shown (several more commands): wait for them.
    await expect.poll(() => page.getByTestId("vpd").textContent(), { timeout: 15_000 }).toMatch(/83Device Identification/i);
    expect(await page.getByTestId("session").textContent()).toMatch(new RegExp(`${IQN}.*CHAP as alice`));
    // Logged in for real: tgtd lists the page's session, and the secret field is empty again.
    expect((await tgtd.sessions(1)).map((s) => s.initiator)).toEqual(["iqn.2026-11.io.iscsi-ts:localhost"]);
    expect(await page.getByTestId("chap-secret").inputValue()).toBe("");

    // A file of 1 MiB and 100 bytes: written at LBA 2048, the last block padded with zeros.
    const file = patternFile((1 << 20) + 100);
    await page.getByTestId("write-file").setInputFiles({ name: "pattern.bin", mimeType: "application/octet-stream", buffer: file });
    await page.getByTestId("write-lba").fill(String(WRITE_LBA));
    await page.getByTestId("write").click();
    const result = page.getByTestId("write-result");
    await expect.poll(() => result.getAttribute("data-verified"), { timeout: 30_000 }).toBe("true");
    expect(await result.textContent()).toMatch(/verified.*wrote 1 MiB \(\+412 zero bytes to fill the last block\) at LBA 2,048/);

    // The page's hex view now shows the file's first bytes at byte address 2048 * 512.
    const firstRow = await page.locator("[data-testid=hex] .hexrow").first().textContent();
    expect(firstRow?.replace(/\s+/g, "")).toContain(`00100000${file.subarray(0, 16).toString("hex")}`);

    // Independently: QEMU's iSCSI initiator (libiscsi) reads the LUN from tgtd.
    const copy = dir.file("lun.raw");
    checkOk(await qemuImgConvert(tgtd.url(IQN, 1, CHAP), copy));
    const lun = await readFile(copy);
    const at = WRITE_LBA * 512;
    expect(lun.subarray(at, at + file.length).equals(file)).toBe(true);
    expect(lun.subarray(at + file.length, at + file.length + 412).every((b) => b === 0)).toBe(true);

    // The live workload: random 4 KiB reads at queue depth 8 for a few seconds.
    await page.getByTestId("live-depth").selectOption("8");
    await page.getByTestId("live-toggle").click();
    const numbers = page.getByTestId("live-numbers");
    await expect.poll(async () => Number(await numbers.getAttribute("data-reads")), { timeout: 15_000 }).toBeGreaterThan(200);
    await page.waitForTimeout(4_000);
    expect(Number(await numbers.getAttribute("data-iops"))).toBeGreaterThan(50);
    await page.screenshot({ path: join(ARTEFACTS, "page.png"), fullPage: true });
    await page.getByTestId("chart").screenshot({ path: join(ARTEFACTS, "chart.png") });
    await page.locator("#lun-card").screenshot({ path: join(ARTEFACTS, "lun.png") });
    await page.getByTestId("live-toggle").click();

    await page.getByTestId("logout").click();
    await expect.poll(async () => (await tgtd.sessions(1)).length, { timeout: 10_000 }).toBe(0);
    expect(problems).toEqual([]);
  });

  it("reports a wrong CHAP secret as an authentication failure, with its code", async () => {
    const { page } = await openPage(gateway.url);
    await expect.poll(() => page.getByTestId("portal").inputValue()).toBe(tgtd.portal);
    await page.getByTestId("chap-user").fill(CHAP.user);
    await page.getByTestId("chap-secret").fill("not-the-secret-1");
    await page.getByTestId("discover").click();
    await page.getByTestId("target").filter({ hasText: IQN }).getByTestId("login").click();
    const error = page.getByTestId("error");
    await error.waitFor();
    expect(await error.textContent()).toMatch(/^ISCSI_ERR_AUTH.*authentication failure/);
    expect(await tgtd.sessions(1)).toEqual([]);
  });
});

describe("the gateway, as a browser meets it", () => {
  it("refuses a destination not on its --allow list, and the page says so, without connecting anywhere", async () => {
    let connections = 0;
    const other = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
    const port = (other.address() as net.AddressInfo).port;
    try {
      const { page } = await openPage(gateway.url);
      await page.getByTestId("portal").fill(`127.0.0.1:${port}`);
      await page.getByTestId("discover").click();
      const error = page.getByTestId("error");
      await error.waitFor();
      expect(await error.textContent()).toContain(`ISCSI_ERR_TRANSPORTcannot connect to 127.0.0.1:${port}: refused by the gateway: 127.0.0.1:${port} is not on its --allow list`);
      expect(page.getByTestId("path")).toBeDefined();
      expect(await page.getByTestId("path").getAttribute("data-state")).toBe("failed");
      expect(connections).toBe(0);
      expect(refusals.some((r) => r.code === 4403 && r.destination === `127.0.0.1:${port}`)).toBe(true);
    } finally {
      await new Promise((r) => other.close(r));
    }
  });

  it("refuses the WebSocket of a page from another origin, which sees only a failed handshake", async () => {
    const relay = `ws://127.0.0.1:${gateway.port}/tcp?host=127.0.0.1&port=${tgtd.port}`;
    // Another origin (another port): a page that tries to open a relay and writes down what happened.
    const html = `<!doctype html><body><script>
      const ws = new WebSocket(${JSON.stringify(relay)});
      const seen = [];
      ws.onopen = () => seen.push("open");
      ws.onmessage = (e) => seen.push("message " + e.data);
      ws.onerror = () => seen.push("error");
      ws.onclose = (e) => { seen.push("close " + e.code); document.body.dataset.result = seen.join(", "); };
    </script></body>`;
    const foreign: Server = createServer((_req, res) => res.writeHead(200, { "Content-Type": "text/html" }).end(html));
    await new Promise<void>((resolve) => foreign.listen(0, "127.0.0.1", resolve));
    const port = (foreign.address() as net.AddressInfo).port;
    const opened: number[] = [];
    const onOpened = (): number => opened.push(1);
    gateway.on("relay-opened", onOpened);
    try {
      const { page } = await openPage(`http://127.0.0.1:${port}/`);
      await expect.poll(() => page.locator("body").getAttribute("data-result"), { timeout: 10_000 }).toBe("error, close 1006");
      expect(opened).toEqual([]);
      expect(refusals.some((r) => r.code === 403 && r.origin === `http://127.0.0.1:${port}` && r.reason === `pages of http://127.0.0.1:${port} may not use this gateway (--allow-origin)`)).toBe(true);
    } finally {
      gateway.off("relay-opened", onOpened);
      await new Promise((r) => foreign.close(r));
    }
  });
});
