import { describe, expect, it } from "vitest";
import { parseIscsiPerfFinal, parseIscsiPerfReports, parseQemuBenchSeconds } from "./libiscsi.js";

// iscsi-perf (libiscsi 1.19, Debian) stopped by SIGINT after two reports, output to a pipe.
const PERF_PIPE =
  "iscsi-perf version 0.1 - (c) 2014-2015 by Peter Lieven <pl@ĸamp.de>\n\nconnected to iscsi://127.0.0.1:23260/iqn.2026-11.bench:x/1\n" +
  "capacity is 2147483648 blocks or 1099511627776 byte (1048576 MB)\nperforming RANDOM READ with 4 parallel requests\n" +
  "FIXED transfer size of 8 blocks (4096 byte)\ninfinite runtime - press CTRL-C to abort.\n\n\n" +
  "00:00:01 - lba 2028429742, iops current 37070 (144 MB/s), iops average 37070 (144 MB/s), in_flight 4, busy 0        \n" +
  "00:00:02 - lba 91234848, iops current 37581 (146 MB/s), iops average 37325 (145 MB/s), in_flight 4, busy 0        \nABORTED!\n";

// Upstream's form: reports separated by carriage returns, a final average after the drain.
const PERF_CR =
  "\r00:00:03 - lba 1, iops current 90000 (351 MB/s), iops average 88000 (343 MB/s)         " +
  "\r00:00:02 - lba 2, iops current 91000 (355 MB/s), iops average 88700 (346 MB/s)         " +
  "\riops average 88650 (346 MB/s)                                                        \n\nfinished.\n";

describe("iscsi-perf output", () => {
  it("gives each one-second report's current and average IOPS and average MiB/s, oldest first", () => {
    expect(parseIscsiPerfReports(PERF_PIPE)).toEqual([
      { currentIops: 37070, averageIops: 37070, averageMibPerSecond: 144 },
      { currentIops: 37581, averageIops: 37325, averageMibPerSecond: 145 },
    ]);
  });

  it("reads reports separated by carriage returns and the final average", () => {
    expect(parseIscsiPerfReports(PERF_CR).map((r) => r.averageIops)).toEqual([88000, 88700]);
    expect(parseIscsiPerfFinal(PERF_CR)).toBe(88650);
  });

  it("finds no report before the first second and no final average after an abort", () => {
    expect(parseIscsiPerfReports(PERF_PIPE.slice(0, PERF_PIPE.indexOf("00:00:01")))).toEqual([]);
    expect(parseIscsiPerfFinal(PERF_PIPE)).toBeUndefined();
  });
});

describe("qemu-img bench output", () => {
  it("reads the run's time", () => {
    const out = "Sending 2000 write requests, 4096 bytes each, 4 in parallel (starting at offset 0, step size 4096)\nRun completed in 0.085 seconds.\n";
    expect(parseQemuBenchSeconds(out)).toBe(0.085);
  });

  it("gives nothing for a run that did not complete", () => {
    expect(parseQemuBenchSeconds("Sending 2000 write requests, 4096 bytes each\nqemu-img: Could not open 'iscsi://...'\n")).toBeUndefined();
  });
});
