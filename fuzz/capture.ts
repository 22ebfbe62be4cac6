/**
 * Builds the fuzz corpus from real sessions: tgtd driven by libiscsi's tools and by our library
 * (with and without digests, discovery, reads, writes with R2T, sense data), captured with tshark
 * on loopback, cut into PDUs and payloads, and written to fuzz/corpus/<kind>/.
 *
 *     npx tsx fuzz/capture.ts      (needs root for tshark, and the peers: node scripts/ensure-peers.mjs)
 *
 * The streams are followed with `tshark -z follow,tcp,raw`, framed with the fault proxy's PDU
 * stream (digests learnt from the login), and stored without digests where a target expects
 * plain PDUs. Files are named by content, so running it again only adds what is new.
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { OPCODE_NAMES, Opcode } from "../src/core/pdu/opcodes.js";
import { LoginWatch } from "../src/faults/login-watch.js";
import { type DigestPresence, type PduHeader, PduStream } from "../src/faults/pdu-stream.js";
import { discover, openSession } from "../src/node/index.js";
import { iscsiInq, iscsiLs, iscsiReadCapacity16 } from "../test/support/peers.js";
import { checkOk, runCommand } from "../test/support/processes.js";
import { startCapture } from "../test/support/tshark.js";
import { Tgtd } from "../test/support/tgtd.js";
import { makeTempDir } from "../test/support/tmp.js";
import { CORPUS_DIR } from "./corpus.js";
import { concat } from "./mutate.js";

const IQN = "iqn.2026-11.test.fuzz:disk";
const PER_KIND_LIMIT = 24;
/** Streams are kept to their first PDUs up to this many bytes (whole PDUs only). */
const STREAM_LIMIT = 24 * 1024;

interface CapturedPdu {
  readonly direction: "to-target" | "to-initiator";
  readonly header: PduHeader;
  /** Whole PDU as on the wire. */
  readonly wire: Uint8Array;
  readonly login: boolean;
  /** Digests in force when the PDU started. */
  readonly digests: DigestPresence;
}

/** Drives tgtd with libiscsi and our library while tshark listens. */
async function record(tgtd: Tgtd): Promise<void> {
  const lunUrl = tgtd.url(IQN, 1);
  for (const run of [
    () => iscsiLs(tgtd.url()),
    () => iscsiInq(lunUrl),
    () => iscsiInq(lunUrl, ["-e", "1", "-c", "0x00"]),
    () => iscsiInq(lunUrl, ["-e", "1", "-c", "0x80"]),
    () => iscsiInq(lunUrl, ["-e", "1", "-c", "0x83"]),
    () => iscsiInq(lunUrl, ["-e", "1", "-c", "0xb0"]),
    () => iscsiInq(`${lunUrl}?header_digest=crc32c`),
    () => iscsiReadCapacity16(lunUrl),
  ]) {
    checkOk(await run());
  }
  await discover(tgtd.portal);
  for (const digests of [false, true]) {
    const session = await openSession(lunUrl, digests ? { headerDigest: "CRC32C", dataDigest: "CRC32C" } : {});
    const lun = session.lun(1);
    await lun.inquiry();
    for (const page of [0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2]) await lun.vpdRaw(page).catch(() => undefined);
    await lun.readCapacity();
    await lun.modeSense().catch(() => undefined);
    await session.reportLuns();
    await lun.testUnitReady();
    const data = new Uint8Array(1024 * 1024).map((_, i) => (i * 13) & 0xff);
    await lun.write(0, data.subarray(0, 4096));
    await lun.write(64, data);
    await lun.read(64, 2048);
    await lun.read(0, 8);
    // Sense data: a COMPARE AND WRITE that miscompares, a read past the end.
    await lun.compareAndWrite(0, new Uint8Array(512).fill(0xee), new Uint8Array(512)).catch(() => undefined);
    await lun.read(Number(lun.capacity?.blocks ?? 0), 1).catch(() => undefined);
    await session.ping();
    await session.lunReset(1).catch(() => undefined);
    await session.logout();
  }
}

/** Each TCP stream of the capture, as segments in time order: [to-target?, bytes]. */
async function streams(pcap: string, port: number): Promise<Array<Array<[boolean, Uint8Array]>>> {
  const out: Array<Array<[boolean, Uint8Array]>> = [];
  for (let index = 0; ; index++) {
    const result = checkOk(await runCommand("tshark", ["-r", pcap, "-q", "-z", `follow,tcp,raw,${index}`], { timeoutMs: 60_000 }));
    const lines = result.stdout.split("\n");
    const node0 = lines.find((l) => l.startsWith("Node 0:"));
    if (node0 === undefined || !lines.some((l) => /^\t?[0-9a-f]+$/.test(l))) break;
    // Node 0 is the side that spoke first: the initiator, unless the target's port is node 0.
    const clientFirst = !node0.trim().endsWith(`:${port}`);
    const segments: Array<[boolean, Uint8Array]> = [];
    for (const line of lines) {
      const m = /^(\t?)([0-9a-f]+)$/.exec(line);
      if (m === null) continue;
      const fromNode1 = m[1] === "\t";
      segments.push([fromNode1 !== clientFirst, new Uint8Array(Buffer.from(m[2] as string, "hex"))]);
    }
    out.push(segments);
  }
  return out;
}

/** Cuts a stream's segments into PDUs, digests learnt from its login. */
function pdus(segments: ReadonlyArray<[boolean, Uint8Array]>): CapturedPdu[] {
  const watch = new LoginWatch();
  const out: CapturedPdu[] = [];
  const make = (direction: CapturedPdu["direction"]) => {
    const stream = new PduStream(() => watch.digests);
    let parts: Uint8Array[] = [];
    let login = true;
    let digests: DigestPresence = watch.digests;
    return (bytes: Uint8Array) =>
      stream.push(bytes, (piece) => {
        if (piece.header) {
          parts = [];
          login = watch.phase === "login";
          digests = watch.digests;
        }
        watch.onPiece(piece);
        parts.push(piece.bytes.slice());
        if (piece.end) out.push({ direction, header: piece.pdu, wire: concat(parts), login, digests });
      });
  };
  const toTarget = make("to-target");
  const toInitiator = make("to-initiator");
  for (const [up, bytes] of segments) (up ? toTarget : toInitiator)(bytes);
  return out;
}

/** The PDU without its digests (what a framer configured without digests expects). */
function plain(pdu: CapturedPdu): Uint8Array {
  const h = pdu.header;
  const bhsAhs = 48 + h.ahsLength;
  const dataStart = h.headerLength;
  const dataEnd = h.totalLength - (h.dataDigest ? 4 : 0);
  return concat([pdu.wire.subarray(0, bhsAhs), pdu.wire.subarray(dataStart, dataEnd)]);
}

function dataOf(pdu: CapturedPdu): Uint8Array {
  return pdu.wire.subarray(pdu.header.headerLength, pdu.header.headerLength + pdu.header.dataLength);
}

class CorpusWriter {
  private readonly counts = new Map<string, number>();
  private readonly seen = new Set<string>();
  written = 0;

  save(kind: string, name: string, bytes: Uint8Array, limit = PER_KIND_LIMIT): void {
    if (bytes.length === 0) return;
    const hash = createHash("sha256").update(bytes).digest("hex").slice(0, 12);
    const key = `${kind}/${hash}`;
    if (this.seen.has(key)) return;
    const countKey = `${kind}/${name}`;
    const n = this.counts.get(countKey) ?? 0;
    if (n >= limit) return;
    this.seen.add(key);
    this.counts.set(countKey, n + 1);
    const dir = join(CORPUS_DIR, kind);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}-${hash}.bin`), bytes);
    this.written++;
  }
}

async function main(): Promise<void> {
  const tgtd = await Tgtd.start();
  const dir = await makeTempDir("iscsi-ts-fuzz-capture-");
  try {
    await tgtd.addTarget({ tid: 1, iqn: IQN, luns: [{ lun: 1, file: { size: 16 * 1024 * 1024 } }, { lun: 2, null: true }] });
    await tgtd.setParam(1, "HeaderDigest", "None,CRC32C");
    await tgtd.setParam(1, "DataDigest", "None,CRC32C");
    const capture = await startCapture({ port: tgtd.port, dir: dir.path });
    await record(tgtd);
    const pcap = await capture.stop();
    const all = await streams(pcap, tgtd.port);
    const corpus = new CorpusWriter();
    let streamNumber = 0;
    for (const segments of all) {
      const list = pdus(segments);
      streamNumber++;
      for (const direction of ["to-target", "to-initiator"] as const) {
        const mine = list.filter((p) => p.direction === direction);
        const login = mine.filter((p) => p.login);
        const full = mine.filter((p) => !p.login);
        const digests = full[0] === undefined ? "hd0-dd0" : `hd${full[0].digests.header ? 1 : 0}-dd${full[0].digests.data ? 1 : 0}`;
        corpus.save(direction === "to-target" ? "login-requests" : "login-responses", `stream${streamNumber}`, concat(login.map((p) => p.wire)));
        const kept: Uint8Array[] = [];
        let keptBytes = 0;
        for (const p of full) {
          if (keptBytes + p.wire.length > STREAM_LIMIT && kept.length > 0) break;
          kept.push(p.wire.subarray(0, STREAM_LIMIT));
          keptBytes += p.wire.length;
        }
        const fullBytes = concat(kept);
        corpus.save("streams", `stream${streamNumber}-${direction}-${digests}`, fullBytes, 1_000);
        if (direction === "to-initiator" && digests === "hd0-dd0") corpus.save("session", `stream${streamNumber}`, fullBytes, 1_000);
      }
      for (const pdu of list) {
        const name = OPCODE_NAMES[pdu.header.opcode] ?? `op${pdu.header.opcode}`;
        // Large data segments add bytes, not coverage.
        if (pdu.header.dataLength <= 16 * 1024) corpus.save("pdus", name, plain(pdu));
        const data = dataOf(pdu);
        switch (pdu.header.opcode) {
          case Opcode.LoginRequest:
          case Opcode.LoginResponse:
          case Opcode.TextRequest:
            corpus.save("text", name, data);
            break;
          case Opcode.TextResponse:
            corpus.save("text", name, data);
            corpus.save("send-targets", name, data);
            break;
          case Opcode.DataIn:
            if (data.length <= 4096) corpus.save("scsi", "datain", data, 64);
            break;
          case Opcode.ScsiResponse:
            if (data.length > 2) corpus.save("sense", "sense", data.subarray(2, 2 + ((data[0]! << 8) | data[1]!)));
            break;
        }
      }
    }
    console.log(`${all.length} TCP streams captured; ${corpus.written} new corpus files in ${CORPUS_DIR}`);
  } finally {
    await tgtd.stop();
    await dir.remove();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`capture: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
