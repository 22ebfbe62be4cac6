/**
 * Smoke tests of the real-peer harness, with real peers only (none of our protocol code runs):
 * if these fail, interop failures elsewhere say nothing about our initiator.
 */
import { afterEach, describe, expect, it } from "vitest";
import { compareFiles, describeMismatch, verifyPatternFile, writePatternFile } from "./pattern.js";
import { chapEnv, iscsiLs, qemuImgConvert } from "./peers.js";
import { checkOk } from "./processes.js";
import { Tgtd } from "./tgtd.js";
import { useTempDir } from "./tmp.js";
import { analyze, pduKey, problems, startCapture, type Capture } from "./tshark.js";

const IQN = "iqn.2026-11.test.harness:disk";
const MiB = 1 << 20;

describe("the real-peer harness", () => {
  const tmp = useTempDir("iscsi-ts-harness-");
  let tgtd: Tgtd | undefined;
  let capture: Capture | undefined;

  afterEach(async () => {
    await capture?.discard();
    capture = undefined;
    await tgtd?.stop();
    tgtd = undefined;
  });

  async function startTarget(): Promise<Tgtd> {
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: 1, file: { size: 16 * MiB } }, { lun: 2, null: true }] });
    return tgtd;
  }

  it("tgtd started by the harness is discovered by iscsi-ls", async () => {
    const target = await startTarget();
    expect(target.pid).toBeGreaterThan(0);

    const ls = checkOk(await iscsiLs(target.url()));

    expect(ls.stdout).toContain(`Target:${IQN} Portal:127.0.0.1:${target.port},1`);
    expect(ls.stdout).toMatch(/Lun:1\s+Type:DIRECT_ACCESS \(Size:15M\)/);
    expect(ls.stdout).toMatch(/Lun:2\s+Type:DIRECT_ACCESS/);
  });

  it("qemu-img writes a pattern to a tgtd file LUN and reads the same bytes back", async () => {
    const target = await startTarget();
    const source = tmp().file("pattern.img");
    const copy = tmp().file("copy.img");
    await writePatternFile(source, 4 * MiB, 7);

    checkOk(await qemuImgConvert(source, target.url(IQN, 1), { targetIsIscsi: true }));
    checkOk(await qemuImgConvert(target.url(IQN, 1), copy));

    // What came back over iSCSI, and what tgtd put in its backing file, are both the pattern.
    const back = await compareFiles(source, copy, { length: 4 * MiB });
    expect(back === undefined ? "equal" : describeMismatch(back)).toBe("equal");
    const stored = await verifyPatternFile(target.lunPath(1, 1), 4 * MiB, 7);
    expect(stored === undefined ? "equal" : describeMismatch(stored)).toBe("equal");
  });

  it("tgtd with a CHAP account refuses iscsi-ls without the secret and accepts it with it", async () => {
    const target = await startTarget();
    const alice = { user: "alice", secret: "alice-secret-12" };
    await target.addAccount(alice.user, alice.secret);
    await target.bindAccount(1, alice.user);

    const without = await iscsiLs(target.url());
    const wrong = await iscsiLs(target.url(), { env: chapEnv({ initiator: { user: "alice", secret: "not-the-secret" } }) });
    const inUrl = await iscsiLs(target.url(undefined, undefined, alice));
    const inEnv = await iscsiLs(target.url(), { env: chapEnv({ initiator: alice }) });

    // Discovery needs no CHAP on tgtd; the login to the target itself does.
    expect(without.code).not.toBe(0);
    expect(without.stdout + without.stderr).toMatch(/Authentication failure/);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stdout + wrong.stderr).toMatch(/Authentication failure/);
    for (const ok of [inUrl, inEnv]) {
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/Lun:1\s+Type:DIRECT_ACCESS/);
    }
    // The harness never shows the secret.
    expect(inUrl.command).not.toContain(alice.secret);
    expect(inUrl.command).toContain("alice%***@");
  });

  it("a tshark capture of an iscsi-ls session shows login, text and logout PDUs with no malformed frame", async () => {
    const target = await startTarget();
    capture = await startCapture({ port: target.port, dir: tmp().path });

    checkOk(await iscsiLs(target.url()));
    const analysis = await analyze(await capture.stop(), target.port);

    for (const name of ["Login Command", "Login Response", "Text Command", "Text Response", "Logout Command", "Logout Response"]) {
      expect(analysis.opcodes, `PDUs seen: ${analysis.opcodes.join(", ")}`).toContain(name);
    }
    expect(problems(analysis)).toEqual([]);
    const sendTargets = analysis.pdus.find((p) => p.name === "Text Command");
    expect(sendTargets !== undefined && pduKey(sendTargets, "SendTargets")).toBe("All");
    const discovered = analysis.pdus.find((p) => p.name === "Text Response");
    expect(discovered !== undefined && pduKey(discovered, "TargetName")).toBe(IQN);
  });

  it("restart brings tgtd back on the same port", async () => {
    const target = await startTarget();
    const { port, pid } = target;
    const source = tmp().file("pattern.img");
    await writePatternFile(source, 1 * MiB, 99);
    checkOk(await qemuImgConvert(source, target.url(IQN, 1), { targetIsIscsi: true }));

    await target.kill();
    const whileDown = await iscsiLs(target.url());
    await target.restart();

    expect(whileDown.code).not.toBe(0);
    expect(target.port).toBe(port);
    expect(target.pid).not.toBe(pid);
    const ls = checkOk(await iscsiLs(target.url()));
    expect(ls.stdout).toContain(`Target:${IQN} Portal:127.0.0.1:${port},1`);
    // The configuration was re-applied over the same backing file: the data is still there.
    const copy = tmp().file("copy.img");
    checkOk(await qemuImgConvert(target.url(IQN, 1), copy));
    const m = await verifyPatternFile(copy, 1 * MiB, 99);
    expect(m === undefined ? "equal" : describeMismatch(m)).toBe("equal");
  });
});
