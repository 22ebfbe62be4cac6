/**
 * `demo`, the first run (`npm start`): the embedded target on a free loopback port with an
 * in-memory LUN, and the initiator against it: discovery, login, INQUIRY, capacity, a pattern
 * written and read back, two short benchmarks, logout. Needs nothing but Node.
 */
import { Command } from "commander";
import { formatIscsiUrl } from "../../core/index.js";
import { formatPortal } from "../../node/index.js";
import { startTarget } from "../../target/server.js";
import type { CliContext } from "../context.js";
import { CliError } from "../errors.js";
import { formatBytes, formatCount, formatDuration, formatRate, parseDuration } from "../units.js";
import { examples, type Runner } from "./command.js";
import { runPerfWorkload, type PerfResult } from "./perf.js";

const DEMO_IQN = "iqn.2026-11.io.iscsi-ts:demo";
const DEMO_LUN = 1;
const DEMO_SIZE = "64M";
const DEMO_BYTES = 64 << 20;
const PATTERN_BYTES = 4 << 20;

interface DemoOptions {
  readonly time: string;
}

/** Bytes that differ from block to block and from run to run of the same offset never. */
export function demoPattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= length; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    view.setUint32(i, x);
  }
  return out;
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function benchLine(r: PerfResult): string {
  const ms = (us: number): string => formatDuration(us / 1000);
  return `${formatCount(r.iops)} IOPS, ${formatRate(r.bytesPerSecond)}, latency p50 ${ms(r.latencyUs.p50)} p99 ${ms(r.latencyUs.p99)}, CPU ${r.cpu.percentOfOneCore.toFixed(0)}% of a core`;
}

export function demoCommand(run: Runner): Command {
  return new Command("demo")
    .summary("start the embedded target and show the initiator working against it")
    .description(
      `Starts the embedded target on a free 127.0.0.1 port with a ${DEMO_SIZE} in-memory LUN, discovers it, logs in, shows INQUIRY and capacity, writes a ${formatBytes(PATTERN_BYTES)} pattern and reads it back, runs 4 KiB random reads at QD 32 (for --time) and 1 MiB sequential writes (for half of it), logs out and stops the target.`,
    )
    .option("--time <duration>", "length of the random-read benchmark (the write benchmark runs half as long)", "2s")
    .addHelpText("after", examples(["iscsi demo", "iscsi demo --time 500ms --json"]))
    .action(async (opts: DemoOptions, cmd: Command) => run(cmd, (ctx) => demo(ctx, parseDuration(opts.time, "--time"))));
}

async function demo(ctx: CliContext, readMs: number): Promise<void> {
  const step = (what: string, detail: string): void => ctx.out.line(`${what.padEnd(9)} ${detail}`);
  const target = await startTarget({
    listen: { host: "127.0.0.1", port: 0 },
    targets: [{ iqn: DEMO_IQN, luns: [{ lun: DEMO_LUN, backend: `mem:${DEMO_SIZE}` }] }],
  });
  try {
    const portal = { host: target.host, port: target.port };
    step("target", `${DEMO_IQN} listening on ${formatPortal(portal)}, LUN ${DEMO_LUN}: ${formatBytes(DEMO_BYTES)} in memory`);

    const found = await ctx.discover(portal, undefined);
    const ours = found.find((t) => t.name === DEMO_IQN);
    if (ours === undefined) throw new CliError("ISCSI_CLI_USAGE", `discovery at ${formatPortal(portal)} did not list ${DEMO_IQN}`);
    step("discover", found.map((t) => `${t.name} at ${t.addresses.map((a) => `${formatPortal(a)} (portal group ${a.portalGroupTag})`).join(", ")}`).join("; "));

    const url = formatIscsiUrl({ ...portal, targetName: DEMO_IQN, lun: DEMO_LUN });
    const ref = ctx.targetRef(url, true);
    const report = await ctx.withLun(ref, async (lun, session) => {
      const c = session.connections[0];
      const login = {
        initiator: session.initiatorName,
        tsih: session.tsih,
        headerDigest: c?.headerDigest ?? false,
        dataDigest: c?.dataDigest ?? false,
        maxRecvDataSegmentLength: c?.maxRecvDataSegmentLength,
        maxSendDataSegmentLength: c?.maxSendDataSegmentLength,
      };
      step("login", `as ${login.initiator}, session TSIH ${login.tsih}, digests ${login.headerDigest ? "CRC32C" : "none"}/${login.dataDigest ? "CRC32C" : "none"}`);

      const inquiry = await lun.inquiry();
      step("inquiry", `${inquiry.vendor} ${inquiry.product} ${inquiry.revision}: ${inquiry.peripheralDeviceTypeName}, ${inquiry.versionName}`);
      const capacity = await lun.readCapacity();
      step("capacity", `${formatBytes(capacity.bytes)}: ${String(capacity.blocks)} blocks of ${capacity.blockSize} bytes${capacity.thinProvisioned ? ", thin provisioned" : ""}`);

      const pattern = demoPattern(PATTERN_BYTES, 0x15c5);
      const writeStarted = performance.now();
      await lun.write(0, pattern);
      const back = await lun.read(0, PATTERN_BYTES / capacity.blockSize);
      const patternMs = performance.now() - writeStarted;
      const diff = firstDifference(pattern, back);
      if (diff >= 0) throw new CliError("ISCSI_CLI_VERIFY_MISMATCH", `the pattern read back from ${url} differs at byte ${diff}`);
      step("data", `wrote ${formatBytes(PATTERN_BYTES)} at LBA 0 and read it back: identical (${formatDuration(patternMs)})`);

      const randread = await runPerfWorkload(lun, { rw: "randread", blockSize: 4096, queueDepth: 32, durationMs: readMs }, { signal: ctx.signal });
      step("randread", `self-test, 4 KiB, QD 32, ${formatDuration(randread.elapsedMs)}: ${benchLine(randread)}`);
      const write = await runPerfWorkload(lun, { rw: "write", blockSize: 1 << 20, queueDepth: 8, durationMs: Math.max(1, readMs / 2) }, { signal: ctx.signal });
      step("write", `self-test, 1 MiB sequential, QD 8, ${formatDuration(write.elapsedMs)}: ${benchLine(write)}`);
      if (randread.interrupted || write.interrupted) throw ctx.signal.reason;
      return { login, inquiry, capacity, pattern: { bytes: PATTERN_BYTES, verified: true, elapsedMs: patternMs }, benchmarks: { randread, write } };
    });
    step("logout", "done");
    await target.close();
    step("stopped", `the target; ${formatCount(target.stats.commands)} SCSI commands served`);
    ctx.out.result(
      {
        target: { iqn: DEMO_IQN, host: target.host, port: target.port, lun: DEMO_LUN, backend: `mem:${DEMO_SIZE}` },
        // Said in the JSON too: a script reading `benchmarks` must not take them for the initiator's speed.
        benchmarksAre: "a self-test with the target in the same process and event loop as the initiator",
        discovery: found,
        ...report,
        capacity: { blocks: report.capacity.blocks, blockSize: report.capacity.blockSize, bytes: report.capacity.bytes },
      },
      () =>
        [
          "",
          "The randread and write lines are a self-test, not the initiator's speed: the target runs in",
          "this same process, on the same event loop, so every I/O pays for both ends (and for copying",
          "into the target's memory). Against a target of its own machine, `iscsi perf` shows the real",
          "figures; the README's benchmarks compare them with libiscsi against tgtd.",
          "Next: serve a LUN with `iscsi target --listen 127.0.0.1:3260 --lun 1=mem:256M` in one terminal,",
          "      and try `iscsi ls 127.0.0.1:3260` in another. `iscsi --help` lists every command.",
        ].join("\n"),
    );
  } finally {
    await target.close();
  }
}
