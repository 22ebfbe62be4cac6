import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeTempDirSync } from "../../../test/support/tmp.js";
import { type NodeRecord, parseRecord, RecordError, serializeRecord, defaultNodeName, parseNbdSpec } from "./record.js";
import { NodeStore } from "./store.js";
import { resolveInitiatorName, GENERATED_PREFIX } from "./initiator-name.js";
import { createFileExclusive } from "./atomic.js";

const RECORD: NodeRecord = {
  name: "disk-1",
  portal: { host: "127.0.0.1", port: 3261 },
  targetName: "iqn.2026-11.test:disk",
  lun: 1,
  startup: "automatic",
  dataDigest: "CRC32C,None",
  chapUser: "alice",
  nbd: { listen: { host: "127.0.0.1", port: 10810 }, readOnly: true },
};

describe("node records", () => {
  it("a record written and read back is the same record", () => {
    const dir = makeTempDirSync();
    const store = new NodeStore(dir.path);
    store.save(RECORD);
    expect(store.get("disk-1")).toEqual(RECORD);
    expect(store.list()).toEqual([{ name: "disk-1", file: join(dir.path, "nodes", "disk-1.conf"), record: RECORD }]);
    expect(parseRecord("x", serializeRecord({ ...RECORD, name: "x", nbd: { socket: "/run/a.sock", readOnly: false }, lun: undefined }), "f")).toMatchObject({
      lun: undefined,
      nbd: { socket: "/run/a.sock", readOnly: false },
    });
  });

  it("writes through a temporary file renamed over the record, leaving no temporary behind", () => {
    const dir = makeTempDirSync();
    const store = new NodeStore(dir.path);
    store.save(RECORD);
    store.save({ ...RECORD, startup: "manual" }, { replace: true });
    expect(readdirSync(store.nodesDir)).toEqual(["disk-1.conf"]);
    expect(store.get("disk-1").startup).toBe("manual");
    expect(() => store.save(RECORD)).toThrow(/exists already/);
    expect(statSync(dir.path).mode & 0o777).toBe(0o700);
  });

  it("keeps secrets in files of mode 0600 apart from the record, and refuses one others may read", () => {
    const dir = makeTempDirSync();
    const store = new NodeStore(dir.path);
    store.save(RECORD);
    store.setSecret("disk-1", "chap-secret", "s3cret-value");
    const file = store.secretFile("disk-1", "chap-secret");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(store.secretsDir).mode & 0o777).toBe(0o700);
    expect(statSync(file).uid).toBe(process.getuid?.());
    expect(readFileSync(store.recordFile("disk-1"), "utf8")).not.toContain("s3cret");
    expect(store.readSecret("disk-1", "chap-secret")).toBe("s3cret-value");
    expect(store.readSecret("disk-1", "chap-target-secret")).toBeUndefined();
    chmodSync(file, 0o644);
    expect(() => store.readSecret("disk-1", "chap-secret")).toThrow(/may be read by others \(mode 644\)/);
    store.remove("disk-1");
    expect(() => statSync(file)).toThrow();
  });

  it("reports a damaged record with its file and line, and lists the others", () => {
    const dir = makeTempDirSync();
    const store = new NodeStore(dir.path);
    store.save(RECORD);
    store.save({ ...RECORD, name: "zeta" });
    const bad = join(store.nodesDir, "broken.conf");
    writeFileSync(bad, "# comment\nurl = iscsi://127.0.0.1/iqn.2026-11.test:x/1\nstartup = sometimes\n");
    const entries = store.list();
    expect(entries.map((e) => e.name)).toEqual(["broken", "disk-1", "zeta"]);
    expect(entries[0]?.error?.message).toBe(`${bad}:3: startup: "sometimes" is not automatic or manual`);
    expect(entries[1]?.record).toEqual(RECORD);
    expect(() => store.get("broken")).toThrow(RecordError);
    writeFileSync(bad, "url = iscsi://127.0.0.1/iqn.2026-11.test:x/1\ngarbage here\n");
    expect(() => store.get("broken")).toThrow(`${bad}:2: not a "key = value" line`);
  });

  it("refuses unknown names and names that are not safe file names", () => {
    const store = new NodeStore(makeTempDirSync().path);
    expect(() => store.get("nope")).toThrow(/no node named "nope"/);
    expect(() => store.get("../etc/passwd")).toThrow(/not allowed/);
    expect(() => store.save({ ...RECORD, name: ".hidden" })).toThrow(/not allowed/);
    expect(() => store.remove("nope")).toThrow(/no node named/);
  });

  it("names a node from its IQN and LUN, and reads --nbd settings", () => {
    expect(defaultNodeName("iqn.2026-11.test:disk", 1)).toBe("disk-1");
    expect(defaultNodeName("iqn.2026-11.test:a/b c", undefined)).toBe("a-b-c");
    expect(parseNbdSpec("listen=127.0.0.1:10900,read-only")).toEqual({ listen: { host: "127.0.0.1", port: 10900 }, readOnly: true });
    expect(parseNbdSpec("listen=localhost")).toEqual({ listen: { host: "localhost", port: 10809 }, readOnly: false });
    expect(parseNbdSpec("listen=:10811")).toEqual({ listen: { host: "127.0.0.1", port: 10811 }, readOnly: false });
    expect(() => parseNbdSpec("socket=relative")).toThrow(/absolute/);
    expect(() => parseNbdSpec("listen=127.0.0.1:1,socket=/a")).toThrow(/exclude/);
  });
});

describe("the initiator name", () => {
  function setup(): { env: Record<string, string>; dir: string; system: string } {
    const tmp = makeTempDirSync();
    const system = tmp.file("etc-initiatorname.iscsi");
    return { env: { ISCSI_TS_CONFIG_DIR: tmp.file("config"), ISCSI_TS_SYSTEM_INITIATORNAME: system }, dir: tmp.file("config"), system };
  }

  it("is generated once, random and not the host name, then kept", () => {
    const { env, dir } = setup();
    const first = resolveInitiatorName(undefined, env);
    expect(first.source).toBe("generated");
    expect(first.name).toMatch(new RegExp(`^${GENERATED_PREFIX.replace(/\./g, "\\.")}[0-9a-f]{24}$`));
    expect(readFileSync(join(dir, "initiatorname.iscsi"), "utf8")).toContain(`InitiatorName=${first.name}`);
    expect(resolveInitiatorName(undefined, env).name).toBe(first.name);
    expect(resolveInitiatorName(undefined, setup().env).name).not.toBe(first.name);
  });

  it("a generated name is created only if none exists: a second creation loses and leaves the first whole", () => {
    const tmp = makeTempDirSync();
    const file = tmp.file("initiatorname.iscsi");
    expect(createFileExclusive(file, "InitiatorName=iqn.2026-12.test:first\n")).toBe(true);
    expect(createFileExclusive(file, "InitiatorName=iqn.2026-12.test:second\n")).toBe(false);
    expect(readFileSync(file, "utf8")).toBe("InitiatorName=iqn.2026-12.test:first\n");
    expect(readdirSync(tmp.path)).toEqual(["initiatorname.iscsi"]);
  });

  it("takes the flag over the environment over the config file over /etc over the generated one", () => {
    const { env, dir, system } = setup();
    const generated = resolveInitiatorName(undefined, env).name;
    writeFileSync(system, "## DO NOT EDIT\nInitiatorName=iqn.1993-08.org.debian:01:abcdef\n");
    expect(resolveInitiatorName(undefined, env)).toMatchObject({ name: "iqn.1993-08.org.debian:01:abcdef", source: "system" });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "config"), "# ours\ninitiator-name = iqn.2026-12.test:from-config\n");
    expect(resolveInitiatorName(undefined, env)).toMatchObject({ name: "iqn.2026-12.test:from-config", source: "config" });
    const withEnv = { ...env, ISCSI_INITIATOR_NAME: "iqn.2026-12.test:from-env" };
    expect(resolveInitiatorName(undefined, withEnv)).toMatchObject({ name: "iqn.2026-12.test:from-env", source: "environment" });
    expect(resolveInitiatorName("IQN.2026-12.test:FLAG", withEnv)).toMatchObject({ name: "iqn.2026-12.test:flag", source: "flag" });
    expect(generated).not.toContain("debian");
  });

  it("a bad name in a file is an error naming the file and line", () => {
    const { env, system } = setup();
    writeFileSync(system, "\nInitiatorName=not a name\n");
    expect(() => resolveInitiatorName(undefined, env)).toThrow(`${system}:2: "not a name" is not an iSCSI name`);
  });
});
