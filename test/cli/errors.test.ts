/**
 * The user's mistakes, each answered by one line on stderr that says what and where, the exit
 * status of its kind, no stack trace, and nothing written where nothing should be: not on the
 * LUN (checked in tgtd's backing file), not a partial output file.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Opcode } from "../../src/core/pdu/opcodes.js";
import { FaultProxy } from "../../src/faults/proxy.js";
import { verifyPatternFile, writePatternFile } from "../support/pattern.js";
import { freeTcpPort } from "../support/ports.js";
import { runChecked, spawnTracked } from "../support/processes.js";
import { Tgtd } from "../support/tgtd.js";
import { useTempDir } from "../support/tmp.js";
import { sleep, within } from "../support/wait.js";
import { ensureBuilt, expectFailure, expectOk, iscsi, jsonOf, quote, spawnIscsi } from "./cli.test-util.js";

const IQN = "iqn.2026-11.test.cli:errors";
const IQN_CHAP = "iqn.2026-11.test.cli:errors-chap";
const CHAP_USER = "cliuser";
const CHAP_SECRET = "cli-secret-0123456789";
const LUN_BLOCKS = 2048;
/** LUN 3: room for the FIFO and /dev/zero copies. */
const LUN3_BYTES = 4 << 20;

describe("iscsi's answers to mistakes (against tgtd)", () => {
  let tgtd: Tgtd;
  const tmp = useTempDir("iscsi-cli-errors-");
  const url = (lun = 1, iqn = IQN): string => `iscsi://${tgtd.portal}/${iqn}/${lun}`;
  /** A digest of LUN 1's backing file: unchanged means nothing was written. */
  const lunDigest = (): string => createHash("sha256").update(readFileSync(tgtd.lunPath(1, 1))).digest("hex");

  beforeAll(async () => {
    await ensureBuilt();
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: 1, file: { size: LUN_BLOCKS * 512 } }, { lun: 2, null: true }, { lun: 3, file: { size: LUN3_BYTES } }] });
    await tgtd.addTarget({ tid: 2, iqn: IQN_CHAP, luns: [{ lun: 1, file: { size: 1 << 20 } }] });
    await tgtd.addAccount(CHAP_USER, CHAP_SECRET);
    await tgtd.bindAccount(2, CHAP_USER);
    // Something other than zeros on LUN 1, so an unwanted write of zeros would show too.
    await writePatternFile(tgtd.lunPath(1, 1), LUN_BLOCKS * 512, 99);
  });

  afterAll(async () => {
    await tgtd?.stop();
  });

  describe("connecting", () => {
    it("a malformed URL: 1", async () => {
      expectFailure(await iscsi(["readcap", `iscsi://${tgtd.portal}/not an iqn/1`]), 1, /^iscsi: invalid iSCSI URL ".*": "not an iqn" is not an iSCSI name/);
      expectFailure(await iscsi(["readcap", `http://${tgtd.portal}/${IQN}/1`]), 1, /it must start with iscsi:\/\//);
    });

    it("an unknown host: 4", async () => {
      expectFailure(await iscsi(["readcap", `iscsi://no-such-host.invalid/${IQN}/1`]), 4, /cannot connect to no-such-host\.invalid:3260: unknown host "no-such-host\.invalid"/);
    });

    it("a refused port: 4", async () => {
      const port = await freeTcpPort();
      expectFailure(await iscsi(["discover", `127.0.0.1:${port}`]), 4, new RegExp(`^iscsi: .*cannot connect to 127\\.0\\.0\\.1:${port}: connection refused \\(is a target listening there\\?\\)$`));
    });

    it("an --initiator-name that is no iSCSI name: 1, saying why ('=' is not allowed; 223 bytes at most)", async () => {
      expectFailure(
        await iscsi(["readcap", url(), "--initiator-name", "iqn.2026-01.x:a=b"]),
        1,
        /^iscsi: --initiator-name "iqn\.2026-01\.x:a=b" is not an iSCSI name: the character "=" is not allowed in an iSCSI name/,
      );
      const long = `iqn.2026-01.com.example:${"a".repeat(224 - 24)}`;
      expectFailure(await iscsi(["readcap", url(), "--initiator-name", long]), 1, /is not an iSCSI name: it is 224 bytes long; an iSCSI name is at most 223 bytes/);
    });

    it("a target that answers the login and then nothing: --timeout 2s is the whole wait, 4, naming the command, target and portal", async () => {
      const proxy = await FaultProxy.start({ target: { host: tgtd.host, port: tgtd.port } });
      try {
        // Every reply but the Login Responses is lost: each command and each reconnect meets silence.
        proxy.swallow({ direction: "to-initiator", match: { test: (pdu) => pdu.opcode !== Opcode.LoginResponse }, count: 1_000_000 });
        const r = await iscsi(["inquiry", `iscsi://${proxy.portal}/${IQN}/1`, "--timeout", "2s"], { timeoutMs: 60_000 });
        expectFailure(r, 4, new RegExp(`^iscsi: ${IQN.replace(/\./g, "\\.")} at ${proxy.portal}: INQUIRY \\(ITT 0x[0-9a-f]+\\) on LUN 1 did not complete within 2000 ms`));
        expect(r.durationMs).toBeLessThan(3_500);
      } finally {
        await proxy.close();
      }
    });

    it("an unknown target IQN: 2, with the login status, and first of all how to find the right name", async () => {
      const r = await iscsi(["readcap", url(1, "iqn.2026-11.test.cli:nobody")]);
      expectFailure(r, 2, /iqn\.2026-11\.test\.cli:nobody.*target not found \(status 0x0203\); check the target name \(`iscsi discover [^`]+` lists the targets there\); we logged in as initiator/);
      expect(r.stderr).toContain(`iscsi discover ${tgtd.portal}`);
    });

    it("a LUN the target does not have: 3", async () => {
      expectFailure(await iscsi(["readcap", url(9)]), 3, /LUN 9 of .*LOGICAL UNIT NOT SUPPORTED.*does not exist on this target/);
      expectFailure(await iscsi(["inquiry", url(9)]), 3, /^iscsi: LUN 9 does not exist on iqn\.2026-11\.test\.cli:errors/);
    });
  });

  describe("authenticating", () => {
    it("a wrong CHAP secret: 2, and the secret is not shown", async () => {
      const wrong = "not-the-right-secret-42";
      const r = await iscsi(["readcap", `iscsi://${CHAP_USER}%${wrong}@${tgtd.portal}/${IQN_CHAP}/1`]);
      expectFailure(r, 2, /iqn\.2026-11\.test\.cli:errors-chap.* authentication failure \(status 0x0201\)/);
      expect(r.stdout + r.stderr).not.toContain(wrong);
    });

    it("a CHAP user with no secret: 2, saying where a secret may come from", async () => {
      expectFailure(await iscsi(["readcap", `iscsi://${CHAP_USER}@${tgtd.portal}/${IQN_CHAP}/1`]), 2, /CHAP user "cliuser" \(from the URL\) has no secret: give it in \$ISCSI_CHAP_SECRET/);
      expectFailure(await iscsi(["readcap", url(1, IQN_CHAP)], { env: { ISCSI_CHAP_USERNAME: CHAP_USER } }), 2, /has no secret/);
    });

    it("no credentials for a target that requires CHAP: 2", async () => {
      expectFailure(await iscsi(["readcap", url(1, IQN_CHAP)]), 2, /authentication failure/);
    });

    it("ls of a portal still lists the targets it can reach, and reports the one it cannot", async () => {
      const r = await iscsi(["ls", tgtd.portal, "--json"]);
      expectFailure(r, 2, /iqn\.2026-11\.test\.cli:errors-chap.*authentication failure/);
      const json = jsonOf<{ targets: { name: string; luns: unknown[]; error?: { code: string } }[] }>(r);
      expect(json.targets.find((t) => t.name === IQN)?.luns.length).toBeGreaterThan(0);
      expect(json.targets.find((t) => t.name === IQN_CHAP)?.error?.code).toBe("ISCSI_ERR_AUTH");
    });
  });

  describe("writing", () => {
    it("a write past the end of the LUN: 3, and nothing is written", async () => {
      const input = tmp().file("8k.bin");
      await writePatternFile(input, 8192, 1);
      const before = lunDigest();
      expectFailure(await iscsi(["write", url(), "--lba", String(LUN_BLOCKS - 8), "-i", input]), 3, /cannot write 16 block\(s\) at LBA 2040: LUN 1 of .* ends at LBA 2047 \(2048 blocks of 512 bytes\)/);
      expect(lunDigest()).toBe(before);
    });

    it("an input file that does not exist: 1, before connecting", async () => {
      const missing = tmp().file("missing.bin");
      expectFailure(await iscsi(["write", url(), "--lba", "0", "-i", missing]), 1, new RegExp(`^iscsi: cannot open ${missing.replace(/[.]/g, "\\.")}: no such file or directory$`));
      expectFailure(await iscsi(["cp", missing, url()]), 1, /no such file or directory/);
    });

    it("-i shorter than --blocks: 1, and nothing is written", async () => {
      const input = tmp().file("short.bin");
      await writePatternFile(input, 3 * 512, 2);
      const before = lunDigest();
      expectFailure(
        await iscsi(["write", url(), "--lba", "0", "--blocks", "8", "-i", input]),
        1,
        /short\.bin holds 1536 bytes, less than the 8 block\(s\) of 512 bytes \(4096 bytes\) asked; nothing was written/,
      );
      expectFailure(await iscsi(["write", url(), "--lba", "0", "--blocks", "8"], { input: new Uint8Array(1000).fill(7) }), 1, /standard input holds 1000 bytes, less than/);
      expect(lunDigest()).toBe(before);
    });

    it("an input that is not a whole number of blocks: 1, and nothing is written", async () => {
      const input = tmp().file("odd.bin");
      writeFileSync(input, new Uint8Array(1000).fill(3));
      const before = lunDigest();
      expectFailure(await iscsi(["write", url(), "--lba", "0", "-i", input]), 1, /holds 1000 bytes, not a whole number of 512-byte blocks/);
      expect(lunDigest()).toBe(before);
    });

    it("cp of a source larger than the LUN: 3, and nothing is written", async () => {
      const big = tmp().file("big.img");
      await writePatternFile(big, LUN_BLOCKS * 512 + 4096, 3);
      const before = lunDigest();
      expectFailure(await iscsi(["cp", big, url()]), 3, /the source .*big\.img \(1 MiB, 1052672 bytes\) is larger than LUN 1 of .* \(1 MiB, 1048576 bytes\); nothing was written/);
      expect(lunDigest()).toBe(before);
    });

    it("cp of a source without end (/dev/zero) onto a LUN: 3, saying it is larger than the LUN, as for stdin", async () => {
      const r = await iscsi(["cp", "/dev/zero", url(3)], { timeoutMs: 30_000 });
      expectFailure(r, 3, /^iscsi: \/dev\/zero is larger than LUN 3 of iqn\.2026-11\.test\.cli:errors \(4194304 bytes\): only the first 4194304 bytes were written$/);
    });

    it("cp from a FIFO fed by a writer: opened once, so the writer exits 0, and the LUN holds its bytes", async () => {
      const fifo = tmp().file("fed.fifo");
      await runChecked("mkfifo", [fifo]);
      const data = tmp().file("fed.bin");
      await writePatternFile(data, LUN3_BYTES, 5);
      const writer = spawnTracked("sh", ["-c", `head -c ${LUN3_BYTES} ${quote(data)} > ${quote(fifo)}`]);
      try {
        const r = expectOk(await iscsi(["cp", fifo, url(3)], { timeoutMs: 20_000 }));
        expect(r.stdout).toMatch(/copied 4 MiB \(4194304 bytes\) from .*fed\.fifo to LUN 3/);
        expect(await within(writer.exited, 10_000)).toEqual({ code: 0, signal: null });
        expect(await verifyPatternFile(tgtd.lunPath(1, 3), LUN3_BYTES, 5)).toBeUndefined();
      } finally {
        await writer.kill();
      }
    });
  });

  describe("reading", () => {
    it("a read past the end: 3, and no output file (not even a temporary one)", async () => {
      const out = tmp().file("past-end.bin");
      expectFailure(await iscsi(["read", url(), "--lba", "2047", "--blocks", "2", "-o", out]), 3, /cannot read 2 block\(s\) at LBA 2047/);
      expect(readdirSync(tmp().path)).toEqual([]);
    });

    it("a read that cannot connect leaves no output file", async () => {
      const port = await freeTcpPort();
      const out = tmp().file("never.bin");
      expectFailure(await iscsi(["read", `iscsi://127.0.0.1:${port}/${IQN}/1`, "--lba", "0", "--blocks", "1", "-o", out]), 4, /connection refused/);
      expect(readdirSync(tmp().path)).toEqual([]);
    });
  });

  describe("verifying and interrupting", () => {
    it("cp --verify finds data corrupted on the way (a bit flipped in a Data-Out): 5", async () => {
      const proxy = await FaultProxy.start({ target: { host: tgtd.host, port: tgtd.port } });
      try {
        const source = tmp().file("verify.img");
        await writePatternFile(source, LUN_BLOCKS * 512, 4);
        const flipped = proxy.flip({ direction: "to-target", where: "data", match: { opcode: Opcode.DataOut, skip: 3 } });
        const r = await iscsi(["cp", "--verify", source, `iscsi://${proxy.portal}/${IQN}/1`]);
        await flipped.applied;
        expectFailure(r, 5, /^iscsi: verification failed: bytes \d+ to \d+ of LUN 1 of iqn\.2026-11\.test\.cli:errors \(LBA \d+ to \d+\) differ from what was written$/);
      } finally {
        await proxy.close();
      }
    });

    it("SIGINT stops a benchmark: 130, with the figures so far", async () => {
      const r = await iscsi(["perf", url(2), "--time", "60s", "--json"], { stopAfterMs: 1500 });
      expectFailure(r, 130, /^iscsi: interrupted by SIGINT$/);
      const json = jsonOf<{ interrupted: boolean; commands: number }>(r);
      expect(json.interrupted).toBe(true);
      expect(json.commands).toBeGreaterThan(0);
    });

    it("SIGINT stops a copy to a file: 130, and no file is left", async () => {
      const out = tmp().file("null-lun.img");
      expectFailure(await iscsi(["cp", url(2), out], { stopAfterMs: 1500 }), 130, /interrupted by SIGINT/);
      expect(readdirSync(tmp().path)).toEqual([]);
    });

    it("a FIFO with no writer (cp source, write -i, --chap-secret-file) does not block: SIGINT ends the wait, 130", async () => {
      const fifo = tmp().file("no-writer.fifo");
      await runChecked("mkfifo", [fifo]);
      for (const args of [
        ["cp", fifo, url(3)],
        ["write", url(3), "--lba", "0", "-i", fifo],
        ["readcap", url(), "--chap-user", CHAP_USER, "--chap-secret-file", fifo],
      ]) {
        const r = await iscsi(args, { stopAfterMs: 500, timeoutMs: 10_000 });
        expectFailure(r, 130, /^iscsi: interrupted by SIGINT$/);
        expect(r.durationMs).toBeLessThan(5_000);
      }
    });

    it("SIGTERM ends a wait for a FIFO's writer too: 130", async () => {
      const fifo = tmp().file("term.fifo");
      await runChecked("mkfifo", [fifo]);
      const run = spawnIscsi(["cp", fifo, url(3)]);
      try {
        await sleep(500);
        run.signalGroup("SIGTERM");
        expect(await within(run.exited, 5_000)).toEqual({ code: 130, signal: null });
        expect(run.stderr()).toMatch(/^iscsi: interrupted by SIGTERM\n$/);
      } finally {
        await run.kill();
      }
    });

    it("a good run after all this still works (the target was left in order)", async () => {
      expectOk(await iscsi(["readcap", url()]));
    });
  });
});
