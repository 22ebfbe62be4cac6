/**
 * Wire captures with tshark, and what Wireshark's iSCSI dissector makes of them: the PDUs (with
 * every `iscsi.*` field and the login/text keys), the frames it found malformed, and its expert
 * infos. An independent decoder is the point: a test can say "no malformed PDU, no warning" about
 * bytes our code put on the wire, and read which CHAP_A a target chose.
 *
 * Capturing on `lo` needs root (dumpcap). tshark hands the capture to its child dumpcap, which
 * delivers packets in blocks and flushes the file only now and then, so "tshark said it is
 * capturing" and "every packet sent so far is in the file" are both proved with marker packets:
 * UDP datagrams sent by a socket of ours to itself, carrying a random token, which the capture
 * filter admits and the analysis ignores (it looks at the iSCSI port's TCP only).
 */
import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { HarnessError } from "./errors.js";
import { spawnTracked, type TrackedProcess } from "./processes.js";
import { tail } from "./redact.js";
import { makeTempDir, type TempDir } from "./tmp.js";
import { pollUntil, within } from "./wait.js";

export * from "./tshark-analysis.js";

export interface CaptureOptions {
  /** The iSCSI target's TCP port: the capture keeps this port's traffic. */
  readonly port: number;
  /** Where to write the pcapng file; a temporary directory (removed at process exit) unless told. */
  readonly dir?: string;
  /** Bytes kept per packet (`-s`); whole packets unless told, as the dissector needs them. */
  readonly snaplen?: number;
  /** Time allowed for tshark to start capturing (15 s unless told). */
  readonly startTimeoutMs?: number;
}

const MARKER_INTERVAL_MS = 100;

/** A running capture. `stop()` must be called (it is also killed at process exit). */
export class Capture {
  private stopped: Promise<string> | undefined;
  private scanned = 0;

  private constructor(
    readonly port: number,
    readonly pcapPath: string,
    private readonly proc: TrackedProcess,
    private readonly marker: Socket,
    private readonly markerPort: number,
    private readonly ownDir: TempDir | undefined,
  ) {}

  static async start(options: CaptureOptions): Promise<Capture> {
    const ownDir = options.dir === undefined ? await makeTempDir("iscsi-ts-capture-") : undefined;
    const dir = options.dir ?? ownDir?.path ?? "";
    const pcapPath = join(dir, `port-${options.port}-${Date.now()}.pcapng`);
    const marker = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      marker.once("error", reject);
      marker.bind(0, "127.0.0.1", () => resolve());
    });
    const markerPort = marker.address().port;
    const filter = `tcp port ${options.port} or (udp port ${markerPort} and host 127.0.0.1)`;
    // -B: a 64 MiB kernel capture buffer (2 MiB by default). On a loaded 2-core machine dumpcap
    // falls behind a burst of PDUs and the kernel drops what the buffer cannot hold; the capture
    // then shows "previous segment not captured", a flaw of the capture, not of the session.
    const args = ["-i", "lo", "-n", "-B", "64", "-f", filter, "-w", pcapPath];
    if (options.snaplen !== undefined) args.push("-s", String(options.snaplen));
    const proc = spawnTracked("tshark", args);
    const capture = new Capture(options.port, pcapPath, proc, marker, markerPort, ownDir);
    try {
      await proc.waitForOutput(/Capturing on/, { timeoutMs: options.startTimeoutMs ?? 15_000, what: "that it is capturing" });
      await capture.flushThroughMarker("start");
    } catch (error) {
      await proc.kill();
      marker.close();
      throw error;
    }
    return capture;
  }

  /**
   * Stops the capture once every packet sent before the call is in the file, and returns the
   * file's path. Safe to call more than once.
   */
  stop(): Promise<string> {
    this.stopped ??= this.stopOnce();
    return this.stopped;
  }

  private async stopOnce(): Promise<string> {
    try {
      if (!this.proc.running) {
        throw new HarnessError("PEER_ERR_START", `${this.proc.command} died during the capture; stderr: ${tail(this.proc.stderr())}`);
      }
      await this.flushThroughMarker("stop");
      // SIGINT to tshark itself: it stops dumpcap, which closes the file properly.
      this.proc.signal("SIGINT");
      const exited = await within(this.proc.exited, 10_000);
      if (exited === undefined) {
        await this.proc.kill();
        throw new HarnessError("PEER_ERR_TIMEOUT", `${this.proc.command} did not exit within 10 s of SIGINT`);
      }
      return this.pcapPath;
    } finally {
      await this.proc.kill();
      this.marker.close();
    }
  }

  /** Sends marker datagrams until one shows up in the file: all earlier packets are then in it too. */
  private async flushThroughMarker(label: string): Promise<void> {
    const token = Buffer.from(`iscsi-ts capture marker ${label} ${randomBytes(12).toString("hex")}`);
    await pollUntil(
      async () => {
        if (!this.proc.running) {
          throw new HarnessError("PEER_ERR_START", `${this.proc.command} exited; stderr: ${tail(this.proc.stderr())}`);
        }
        await new Promise<void>((resolve) => this.marker.send(token, this.markerPort, "127.0.0.1", () => resolve()));
        return this.fileContains(token);
      },
      { timeoutMs: 15_000, intervalMs: MARKER_INTERVAL_MS, what: `the ${label} marker to reach ${this.pcapPath}` },
      () => `tshark stderr: ${tail(this.proc.stderr(), 500)}`,
    );
  }

  /** Looks for `token` in the part of the file not yet scanned (the file only grows), 4 MiB at a time. */
  private async fileContains(token: Buffer): Promise<boolean> {
    let file;
    try {
      file = await open(this.pcapPath, "r");
    } catch {
      return false; // dumpcap has not created it yet
    }
    try {
      const size = (await file.stat()).size;
      const chunk = Buffer.alloc(4 << 20);
      // Each read starts token.length - 1 bytes back, so a token split across reads is found.
      let from = Math.max(0, this.scanned - (token.length - 1));
      while (from + token.length <= size) {
        const { bytesRead } = await file.read(chunk, 0, Math.min(chunk.length, size - from), from);
        if (bytesRead < token.length) break;
        if (chunk.subarray(0, bytesRead).includes(token)) return true;
        this.scanned = from + bytesRead;
        from = this.scanned - (token.length - 1);
      }
      return false;
    } finally {
      await file.close();
    }
  }

  /** Removes the capture's own temporary directory (with the file); a no-op for a caller's `dir`. */
  async discard(): Promise<void> {
    await this.stop().catch(() => undefined);
    await this.ownDir?.remove();
  }
}

/** Starts capturing the traffic of a TCP port on loopback; resolves once packets are being recorded. */
export function startCapture(options: CaptureOptions): Promise<Capture> {
  return Capture.start(options);
}
