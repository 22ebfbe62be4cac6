/**
 * `iscsi node ...` and `iscsi discover --add` as a user runs them, with the config directory in a
 * temporary directory (ISCSI_TS_CONFIG_DIR), against tgtd: records written, listed and shown
 * without their secrets, a damaged record reported by file and line while the others work, an
 * unknown name refused in one line, and a login refused by tgtd's ACL naming the initiator name
 * we used.
 */
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt, expectFailure, expectOk, iscsi, jsonOf } from "../cli/cli.test-util.js";
import { Tgtd } from "../support/tgtd.js";
import { useTempDir } from "../support/tmp.js";

const IQN = "iqn.2026-11.test.records:disk";
const LOCKED = "iqn.2026-11.test.records:locked";
const SECRET = "records-secret-7f3a";

describe("node records and the initiator name, through the iscsi command", () => {
  const tmp = useTempDir("iscsi-ts-records-");
  let tgtd: Tgtd;

  beforeAll(async () => {
    await ensureBuilt();
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: 1, file: { size: 8 << 20 } }] });
    await tgtd.addTarget({ tid: 2, iqn: LOCKED, luns: [{ lun: 1, file: { size: 8 << 20 } }], allowAll: false });
    // tgtd's ACL by initiator name is --initiator-name (-Q); -I (allowInitiator) matches addresses.
    await tgtd.tgtadm(["--op", "bind", "--mode", "target", "--tid", "2", "--initiator-name", "iqn.2026-12.test:only-this-one"]);
  });

  afterAll(async () => {
    await tgtd?.stop();
  });

  function env(extra: Record<string, string> = {}): Record<string, string> {
    return { ISCSI_TS_CONFIG_DIR: tmp().file("config"), ISCSI_TS_RUNTIME_DIR: tmp().file("run"), ISCSI_TS_SYSTEM_INITIATORNAME: tmp().file("etc-initiatorname"), ...extra };
  }

  it("records a target with its secret apart (mode 0600), lists it and shows it without the secret", async () => {
    const url = `iscsi://alice%${SECRET}@127.0.0.1:${tgtd.port}/${IQN}/1`;
    const added = expectOk(await iscsi(["node", "add", url, "--startup", "automatic", "--nbd", "listen=127.0.0.1:10911,read-only", "--json"], { env: env() }));
    expect(added.stdout + added.stderr).not.toContain(SECRET);
    expect(jsonOf(added)).toMatchObject({ added: { name: "disk-1", startup: "automatic", chap: { user: "alice", secret: "set" } } });
    const record = readFileSync(join(tmp().file("config"), "nodes", "disk-1.conf"), "utf8");
    expect(record).not.toContain(SECRET);
    const secretFile = join(tmp().file("config"), "secrets", "disk-1.chap-secret");
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(secretFile, "utf8")).toBe(`${SECRET}\n`);

    const shown = expectOk(await iscsi(["node", "show", "disk-1"], { env: env() }));
    expect(shown.stdout).toMatch(/^secret:\s+set$/m);
    expect(shown.stdout).toMatch(/^nbd:\s+listen=127\.0\.0\.1:10911,read-only$/m);
    expect(shown.stdout + shown.stderr).not.toContain(SECRET);
    const list = jsonOf<{ nodes: { name: string; url: string }[] }>(expectOk(await iscsi(["node", "list", "--json"], { env: env() })));
    expect(list.nodes).toEqual([expect.objectContaining({ name: "disk-1", url: `iscsi://127.0.0.1:${tgtd.port}/${IQN}/1` })]);

    expectFailure(await iscsi(["node", "add", url], { env: env() }), 1, /a node named "disk-1" exists already/);
    expectOk(await iscsi(["node", "remove", "disk-1"], { env: env() }));
    expect(() => statSync(secretFile)).toThrow();
    expect(jsonOf<{ nodes: unknown[] }>(expectOk(await iscsi(["node", "list", "--json"], { env: env() }))).nodes).toEqual([]);
  });

  it("a damaged record is listed as damaged with its file and line, and the other records still log in", async () => {
    expectOk(await iscsi(["discover", `127.0.0.1:${tgtd.port}`, "--add", "--json"], { env: env() }));
    const bad = join(tmp().file("config"), "nodes", "broken.conf");
    writeFileSync(bad, `url = iscsi://127.0.0.1:${tgtd.port}/${IQN}/1\nnbd = listen=127.0.0.1:99999\n`);
    const list = jsonOf<{ nodes: { name: string; damaged?: string }[] }>(expectOk(await iscsi(["node", "list", "--json"], { env: env() })));
    // tgtd lists in SendTargets only the targets our initiator may log in to: not the locked one.
    expect(list.nodes.map((n) => n.name)).toEqual(["broken", "disk"]);
    expect(list.nodes[0]?.damaged).toMatch(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:2: nbd: `));
    const text = expectOk(await iscsi(["node", "list"], { env: env() }));
    expect(text.stdout).toMatch(/^broken\s+-\s+damaged\s+.*broken\.conf:2:/m);
    expectFailure(await iscsi(["node", "show", "broken"], { env: env() }), 1, /broken\.conf:2: nbd: NBD address/);
    const login = jsonOf<{ nodes: { name: string; ok: boolean; luns: number[] }[] }>(expectOk(await iscsi(["node", "login", "disk", "--json"], { env: env() })));
    expect(login.nodes[0]).toMatchObject({ name: "disk", ok: true, luns: [0, 1] });
    await tgtd.waitForSessions(1, (s) => s.length === 0, { what: "node login logged out again" });
  });

  it("an unknown node name, or no running service, is one line and exit status 1", async () => {
    expectFailure(await iscsi(["node", "show", "nope"], { env: env() }), 1, /^iscsi: no node named "nope" \(in .*; `iscsi node list` shows them\)$/);
    expectFailure(await iscsi(["node", "login", "nope"], { env: env() }), 1, /no node named "nope"/);
    expectFailure(await iscsi(["node", "remove", "../x"], { env: env() }), 1, /node name "\.\.\/x" is not allowed/);
    expectFailure(await iscsi(["node", "logout", "nope"], { env: env() }), 1, /no `iscsi up` is running/);
    expectFailure(await iscsi(["status"], { env: env() }), 1, /^iscsi: no `iscsi up` is running \(no service answers on .*control\.sock\)$/);
  });

  it("uses one generated initiator name from run to run; the /etc file, the config file, the environment and the flag override it in that order", async () => {
    expectOk(await iscsi(["node", "add", `iscsi://127.0.0.1:${tgtd.port}/${IQN}/1`, "--name", "d"], { env: env() }));
    const nameOf = async (extraEnv: Record<string, string> = {}, args: string[] = []): Promise<string> =>
      jsonOf<{ nodes: { initiatorName: string }[] }>(expectOk(await iscsi(["node", "login", "d", "--json", ...args], { env: env(extraEnv) }))).nodes[0]?.initiatorName ?? "";
    const generated = await nameOf();
    expect(generated).toMatch(/^iqn\.2026-12\.io\.iscsi-ts:[0-9a-f]{24}$/);
    expect(await nameOf()).toBe(generated);
    writeFileSync(tmp().file("etc-initiatorname"), "## open-iscsi\nInitiatorName=iqn.1993-08.org.debian:01:feedbeef\n");
    expect(await nameOf()).toBe("iqn.1993-08.org.debian:01:feedbeef");
    writeFileSync(join(tmp().file("config"), "config"), "initiator-name = iqn.2026-12.test:from-config\n");
    expect(await nameOf()).toBe("iqn.2026-12.test:from-config");
    expect(await nameOf({ ISCSI_INITIATOR_NAME: "iqn.2026-12.test:from-env" })).toBe("iqn.2026-12.test:from-env");
    expect(await nameOf({ ISCSI_INITIATOR_NAME: "iqn.2026-12.test:from-env" }, ["--initiator-name", "iqn.2026-12.test:from-flag"])).toBe("iqn.2026-12.test:from-flag");
  });

  it("a login refused by the target's ACL names the initiator name used and how to change it", async () => {
    const url = `iscsi://127.0.0.1:${tgtd.port}/${LOCKED}`;
    const refused = await iscsi(["ping", url, "--count", "1"], { env: env({ ISCSI_INITIATOR_NAME: "iqn.2026-12.test:someone-else" }) });
    const line = expectFailure(refused, 2, /we logged in as initiator iqn\.2026-12\.test:someone-else \(from \$ISCSI_INITIATOR_NAME\)/);
    expect(line).toMatch(/set --initiator-name, \$ISCSI_INITIATOR_NAME, or "initiator-name = \.\.\." in .*config/);
    console.log(`login refused by tgtd's ACL: ${line}`);
    expectOk(await iscsi(["ping", url, "--count", "1"], { env: env({ ISCSI_INITIATOR_NAME: "iqn.2026-12.test:only-this-one" }) }));
  });
});
