import { describe, expect, it } from "vitest";
import { embeddedTarget, runCaptured } from "../cli.test-util.js";

/** The commands that look (inquiry, luns) against the embedded target. */
describe("iscsi inquiry and luns against the embedded target", () => {
  const IQN = "iqn.2026-11.test.cli:info";
  const { url } = embeddedTarget(IQN);

  it("says which VPD page the LUN does not offer, and how to list those it has, when it answers INVALID FIELD IN CDB", async () => {
    const r = await runCaptured(["inquiry", url(1), "--vpd", "0x99"]);
    expect(r.status).toBe(3);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^iscsi: .*INVALID FIELD IN CDB.* \(the LUN does not offer VPD page 0x99; `--vpd supported` lists the pages it has\)\n$/);
    const json = await runCaptured(["inquiry", url(1), "--vpd", "0x99", "--json"]);
    expect(json.status).toBe(3);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: "ISCSI_ERR_SCSI", exitCode: 3, message: expect.stringContaining("--vpd supported") } });
  });

  it("lists with --vpd supported the pages a --vpd may name", async () => {
    const r = await runCaptured(["inquiry", url(1), "--vpd", "supported", "--json"]);
    expect(r.status).toBe(0);
    const pages = (JSON.parse(r.stdout) as { vpd: { pages: number[] } }).vpd.pages;
    expect(pages).toContain(0x80);
    expect(pages).not.toContain(0x99);
  });

  it("luns takes a URL with a LUN, lists every LUN anyway, and says on stderr that the LUN is ignored", async () => {
    const r = await runCaptured(["luns", url(1)]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("1\n");
    expect(r.stderr).toBe("note: luns lists every LUN of the target; the /1 in the URL is ignored\n");
    expect((await runCaptured(["luns", url()])).stderr).toBe("");
  });

  it("luns --json prints the same document for a URL with a LUN as without, and nothing on stderr", async () => {
    const withLun = await runCaptured(["luns", url(1), "--json"]);
    const without = await runCaptured(["luns", url(), "--json"]);
    expect(withLun.status).toBe(0);
    expect(withLun.stdout).toBe(without.stdout);
    expect(JSON.parse(withLun.stdout)).toMatchObject({ target: IQN, luns: [1] });
    expect(withLun.stderr).toBe("");
  });
});
