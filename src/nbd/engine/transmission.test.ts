import { describe, expect, it } from "vitest";
import { LocalProtocolError } from "../../core/errors.js";
import { EXPORT, Harness, blockStatusChunk, concat, errorChunk, request } from "./client.test-util.js";
import { normalizeExtents } from "./connection.js";

const READ = 0;
const WRITE = 1;
const DISC = 2;
const FLUSH = 3;
const TRIM = 4;
const CACHE = 5;
const WRITE_ZEROES = 6;
const BLOCK_STATUS = 7;
const SIZE = EXPORT.size;

function pattern(length: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);
}

describe("NBD transmission", () => {
  it("hands a READ to the host and answers it with a simple reply and the data", () => {
    const h = Harness.negotiated();
    h.send(request({ type: READ, cookie: 0xdeadbeef_00000001n, offset: 4096, length: 1024 }));
    const [event] = h.of("request");
    expect(event?.request).toMatchObject({ command: "read", offset: 4096, length: 1024, fua: false });
    expect(h.engine.inFlightBytes).toBe(1024);
    const data = pattern(1024);
    h.engine.complete(event?.request.id ?? 0, { ok: true, data });
    h.pump();
    expect(h.server.reply(1024)).toEqual({ kind: "simple", error: 0, cookie: 0xdeadbeef_00000001n, data });
    expect(h.engine.inFlightCount).toBe(0);
    expect(h.engine.inFlightBytes).toBe(0);
  });

  it("sends READ data as the payload view it was given, not a copy", () => {
    const h = Harness.negotiated({ structured: true });
    h.send(request({ type: READ, offset: 0, length: 512 }));
    const data = pattern(512);
    h.engine.complete(h.of("request")[0]?.request.id ?? 0, { ok: true, data });
    const pieces = h.engine.pollTransmit();
    expect(pieces).toHaveLength(2);
    expect(pieces[1]).toBe(data);
  });

  it("answers a READ under structured replies with one final OFFSET_DATA chunk", () => {
    const h = Harness.negotiated({ structured: true });
    h.send(request({ type: READ, cookie: 7n, offset: 8192, length: 512 }));
    const data = pattern(512, 9);
    h.engine.complete(h.of("request")[0]?.request.id ?? 0, { ok: true, data });
    h.pump();
    const reply = h.server.reply();
    expect(reply).toMatchObject({ kind: "structured", flags: 1, type: 1, cookie: 7n });
    if (reply.kind !== "structured") throw new Error("structured");
    expect(new DataView(reply.payload.buffer, reply.payload.byteOffset).getBigUint64(0)).toBe(8192n);
    expect(reply.payload.subarray(8)).toEqual(data);
  });

  it("hands a WRITE to the host with its payload whole, however the bytes arrive, and answers it", () => {
    const payload = pattern(4096, 3);
    const stream = concat([request({ type: WRITE, flags: 1, cookie: 42n, offset: 512, length: 4096 }, payload), request({ type: FLUSH, cookie: 43n })]);
    for (const size of [1, 7, 28, 100, 4096, stream.length]) {
      const h = Harness.negotiated();
      for (let at = 0; at < stream.length; at += size) h.send(stream.subarray(at, at + size));
      const [write, flush] = h.of("request");
      expect(write?.request).toMatchObject({ command: "write", offset: 512, length: 4096, fua: true });
      expect(write?.request.data).toEqual(payload);
      expect(flush?.request).toMatchObject({ command: "flush" });
      h.engine.complete(flush?.request.id ?? 0, { ok: true });
      h.engine.complete(write?.request.id ?? 0, { ok: true });
      h.pump();
      // Replies go out in completion order, each with its own cookie.
      expect([h.server.reply(), h.server.reply()].map((r) => r.cookie)).toEqual([43n, 42n]);
      expect(h.engine.stats).toMatchObject({ requests: 2, bytesWritten: 4096 });
    }
  });

  it("gives a WRITE payload that lies in one received chunk as a view of it", () => {
    const h = Harness.negotiated();
    const bytes = request({ type: WRITE, offset: 0, length: 512 }, pattern(512));
    h.send(bytes);
    const data = h.of("request")[0]?.request.data;
    expect(data?.buffer).toBe(bytes.buffer);
  });

  it.each([
    ["READ", READ, 22],
    ["WRITE", WRITE, 28],
    ["WRITE_ZEROES", WRITE_ZEROES, 28],
    ["TRIM", TRIM, 22],
    ["CACHE", CACHE, 22],
  ])("refuses a %s past the end of the export with the error the document names (%#)", (_name, type, errno) => {
    const h = Harness.negotiated();
    const length = 1024;
    h.send(request({ type, cookie: 5n, offset: SIZE - 512, length }, type === WRITE ? pattern(length) : undefined), request({ type: READ, cookie: 6n, offset: 0, length: 512 }));
    expect(h.server.reply()).toMatchObject({ kind: "simple", error: errno, cookie: 5n });
    // The refused WRITE's payload was skipped: the next request is read correctly.
    expect(h.of("request").map((e) => e.request.command)).toEqual(["read"]);
    expect(h.of("refused")[0]?.message).toMatch(/past the end of the export/);
  });

  it("refuses an offset beyond 2^53 as past the end", () => {
    const h = Harness.negotiated();
    h.send(request({ type: READ, offset: 0xffff_ffff_ffff_fe00n, length: 512 }));
    expect(h.server.reply()).toMatchObject({ error: 22 });
  });

  it("explains a refusal in an error chunk when structured replies were negotiated", () => {
    const h = Harness.negotiated({ structured: true });
    h.send(request({ type: READ, cookie: 9n, offset: SIZE, length: 512 }));
    const reply = h.server.reply();
    expect(reply).toMatchObject({ kind: "structured", flags: 1, type: 0x8001, cookie: 9n });
    if (reply.kind !== "structured") throw new Error("structured");
    expect(errorChunk(reply.payload)).toEqual({ error: 22, message: `NBD_CMD_READ past the end of the export: offset ${SIZE} + length 512 > size ${SIZE}` });
  });

  it.each([
    ["an unaligned offset", { type: READ, offset: 100, length: 512 }],
    ["an unaligned length", { type: READ, offset: 0, length: 100 }],
    ["an unaligned WRITE", { type: WRITE, offset: 512, length: 1000 }],
    ["an unknown command", { type: 42, offset: 0, length: 0 }],
    ["FAST_ZERO, which was not advertised", { type: WRITE_ZEROES, flags: 0x10, offset: 0, length: 512 }],
    ["DF without structured replies", { type: READ, flags: 0x04, offset: 0, length: 512 }],
    ["NO_HOLE on a READ", { type: READ, flags: 0x02, offset: 0, length: 512 }],
    ["a FLUSH with an offset", { type: FLUSH, offset: 512, length: 0 }],
    ["BLOCK_STATUS without a selected context", { type: BLOCK_STATUS, offset: 0, length: 512 }],
  ])("refuses %s with EINVAL and goes on", (_what, r) => {
    const h = Harness.negotiated();
    const payload = r.type === WRITE ? pattern(r.length) : undefined;
    h.send(request({ ...r, cookie: 3n }, payload), request({ type: FLUSH, cookie: 4n }));
    expect(h.server.reply()).toMatchObject({ error: 22, cookie: 3n });
    expect(h.of("request").map((e) => e.request.command)).toEqual(["flush"]);
  });

  it("refuses a READ over the maximum payload with EOVERFLOW under structured replies, EINVAL otherwise", () => {
    const s = Harness.negotiated({ structured: true });
    s.send(request({ type: READ, offset: 0, length: 2 << 20 }));
    const reply = s.server.reply();
    if (reply.kind !== "structured") throw new Error("structured");
    expect(errorChunk(reply.payload).error).toBe(75);
    const plain = Harness.negotiated();
    plain.send(request({ type: READ, offset: 0, length: 2 << 20 }));
    expect(plain.server.reply()).toMatchObject({ error: 22 });
  });

  it("refuses a WRITE over the maximum payload with EINVAL, skipping its payload, and drops a client whose WRITE is beyond reason", () => {
    const h = Harness.negotiated();
    h.send(request({ type: WRITE, cookie: 1n, offset: 0, length: 2 << 20 }, new Uint8Array(2 << 20)), request({ type: FLUSH, cookie: 2n }));
    expect(h.server.reply()).toMatchObject({ error: 22, cookie: 1n });
    expect(h.of("request").map((e) => e.request.command)).toEqual(["flush"]);

    const abusive = Harness.negotiated();
    abusive.send(request({ type: WRITE, cookie: 1n, offset: 0, length: 0xffff_0000 }));
    expect(abusive.server.reply()).toMatchObject({ error: 28 });
    expect(abusive.of("end")[0]).toMatchObject({ reason: "protocol-error" });
  });

  it("refuses writes, trims and zeroing on a read-only export with EPERM", () => {
    const h = Harness.negotiated({ config: { exports: [{ ...EXPORT, readOnly: true }] } });
    h.send(
      request({ type: WRITE, cookie: 1n, offset: 0, length: 512 }, pattern(512)),
      request({ type: TRIM, cookie: 2n, offset: 0, length: 512 }),
      request({ type: WRITE_ZEROES, cookie: 3n, offset: 0, length: 512 }),
      request({ type: READ, cookie: 4n, offset: 0, length: 512 }),
    );
    expect([1, 2, 3].map(() => h.server.reply())).toMatchObject([
      { error: 1, cookie: 1n },
      { error: 1, cookie: 2n },
      { error: 1, cookie: 3n },
    ]);
    expect(h.of("request").map((e) => e.request.command)).toEqual(["read"]);
  });

  it("hands TRIM, WRITE_ZEROES with NO_HOLE and CACHE to the host and acknowledges them", () => {
    const h = Harness.negotiated();
    h.send(request({ type: TRIM, offset: 0, length: 1 << 20 }), request({ type: WRITE_ZEROES, flags: 3, offset: 512, length: 8 << 20 }), request({ type: CACHE, offset: 0, length: 4096 }));
    const requests = h.of("request").map((e) => e.request);
    expect(requests).toMatchObject([
      { command: "trim", length: 1 << 20 },
      { command: "write-zeroes", fua: true, noHole: true, length: 8 << 20 },
      { command: "cache", length: 4096 },
    ]);
    for (const r of requests) h.engine.complete(r.id, { ok: true });
    h.pump();
    expect([0, 1, 2].map(() => h.server.reply().kind)).toEqual(["simple", "simple", "simple"]);
  });

  it("answers BLOCK_STATUS with one base:allocation chunk covering the request, and one extent for REQ_ONE", () => {
    const h = Harness.negotiated({ structured: true, meta: true });
    h.send(request({ type: BLOCK_STATUS, cookie: 11n, offset: 0, length: 1 << 20 }), request({ type: BLOCK_STATUS, flags: 8, cookie: 12n, offset: 0, length: 4096 }));
    const [all, one] = h.of("request").map((e) => e.request);
    const extents = [
      { length: 8192, flags: 0 },
      { length: 4096, flags: 3 },
      { length: 4096, flags: 3 },
      { length: 64 << 20, flags: 3 },
    ];
    h.engine.complete(all?.id ?? 0, { ok: true, extents });
    h.engine.complete(one?.id ?? 0, { ok: true, extents });
    h.pump();
    const first = h.server.reply();
    const second = h.server.reply();
    if (first.kind !== "structured" || second.kind !== "structured") throw new Error("structured");
    expect(first).toMatchObject({ type: 5, flags: 1, cookie: 11n });
    expect(blockStatusChunk(first.payload)).toEqual({ id: 1, extents: [[8192, 0], [(1 << 20) - 8192, 3]] });
    expect(blockStatusChunk(second.payload)).toEqual({ id: 1, extents: [[4096, 0]] });
  });

  it("turns a failed request into an error reply with its errno, and counts it", () => {
    const h = Harness.negotiated({ structured: true });
    h.send(request({ type: WRITE, cookie: 5n, offset: 0, length: 512 }, pattern(512)));
    h.engine.complete(h.of("request")[0]?.request.id ?? 0, { ok: false, errno: 1, message: "WRITE(10) failed: DATA PROTECT, WRITE PROTECTED" });
    h.pump();
    const reply = h.server.reply();
    if (reply.kind !== "structured") throw new Error("structured");
    expect(errorChunk(reply.payload)).toEqual({ error: 1, message: "WRITE(10) failed: DATA PROTECT, WRITE PROTECTED" });
    expect(h.engine.stats.failed).toBe(1);
  });

  it("finishes what is in flight after NBD_CMD_DISC, ignores what follows, then ends", () => {
    const h = Harness.negotiated();
    h.send(request({ type: READ, cookie: 1n, offset: 0, length: 512 }), request({ type: DISC }), request({ type: READ, cookie: 2n, offset: 0, length: 512 }));
    expect(h.of("request")).toHaveLength(1);
    expect(h.of("end")).toEqual([]);
    h.engine.complete(h.of("request")[0]?.request.id ?? 0, { ok: true, data: pattern(512) });
    h.pump();
    expect(h.server.reply(512)).toMatchObject({ cookie: 1n });
    expect(h.of("end")).toEqual([{ type: "end", reason: "disconnect", message: expect.stringMatching(/NBD_CMD_DISC/) }]);
  });

  it("drops the connection on a bad request magic, naming an extended header it did not agree to", () => {
    const h = Harness.negotiated();
    h.send(request({ type: READ, magic: 0x21e41c71, offset: 0, length: 512 }));
    expect(h.of("end")[0]?.message).toMatch(/bad request magic 0x21e41c71 \(an extended header, which was not negotiated\)/);
    const garbage = Harness.negotiated();
    garbage.send(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: example\r\n\r\n"));
    expect(garbage.of("end")[0]).toMatchObject({ reason: "protocol-error" });
  });

  it("on shutdown answers new requests with ESHUTDOWN, finishes those in flight, then ends", () => {
    const h = Harness.negotiated();
    h.send(request({ type: READ, cookie: 1n, offset: 0, length: 512 }));
    h.engine.shutdown();
    h.send(request({ type: READ, cookie: 2n, offset: 0, length: 512 }));
    expect(h.server.reply()).toMatchObject({ error: 108, cookie: 2n });
    expect(h.of("end")).toEqual([]);
    h.engine.complete(h.of("request")[0]?.request.id ?? 0, { ok: true, data: pattern(512) });
    h.pump();
    expect(h.server.reply(512)).toMatchObject({ error: 0, cookie: 1n });
    expect(h.of("end")).toEqual([{ type: "end", reason: "shutdown", message: expect.any(String) }]);
  });

  it("reads no further request while saturated, and goes on as requests complete", () => {
    const h = Harness.negotiated({ config: { maxInFlightRequests: 2 } });
    h.send(...[1n, 2n, 3n, 4n, 5n].map((cookie) => request({ type: READ, cookie, offset: 0, length: 512 })));
    expect(h.of("request")).toHaveLength(2);
    expect(h.engine.saturated).toBe(true);
    h.engine.complete(h.of("request")[0]?.request.id ?? 0, { ok: true, data: pattern(512) });
    expect(h.pump().of("request")).toHaveLength(3);
    const bytes = Harness.negotiated({ config: { maxInFlightBytes: 1024 } });
    bytes.send(request({ type: READ, offset: 0, length: 1024 }), request({ type: READ, offset: 0, length: 512 }));
    expect(bytes.of("request")).toHaveLength(1);
  });

  it("after the connection is lost, drops late outcomes and sends nothing", () => {
    const h = Harness.negotiated();
    h.send(request({ type: READ, offset: 0, length: 512 }));
    h.engine.connectionLost();
    h.engine.complete(h.of("request")[0]?.request.id ?? 0, { ok: true, data: pattern(512) });
    expect(h.engine.pollTransmit()).toEqual([]);
    expect(h.pump().of("end")[0]?.message).toMatch(/without NBD_CMD_DISC, 1 request\(s\) in flight/);
  });

  it("rejects an outcome for a request it never gave, and a READ outcome of the wrong length", () => {
    const h = Harness.negotiated();
    expect(() => h.engine.complete(99, { ok: true })).toThrow(LocalProtocolError);
    h.send(request({ type: READ, offset: 0, length: 512 }));
    expect(() => h.engine.complete(h.of("request")[0]?.request.id ?? 0, { ok: true, data: new Uint8Array(10) })).toThrow(/completed with 10 bytes for 512/);
  });
});

describe("normalizeExtents", () => {
  const req = { offset: 0, length: 8192, reqOne: false };
  it("merges equal neighbours, keeps only the two base:allocation flags and ends at the request's end", () => {
    expect(normalizeExtents([{ length: 1024, flags: 0 }, { length: 1024, flags: 0x10 }, { length: 1 << 20, flags: 7 }], req, EXPORT)).toEqual([
      { length: 2048, flags: 0 },
      { length: 6144, flags: 3 },
    ]);
  });

  it("stops at the first empty extent, and gives one extent for REQ_ONE", () => {
    expect(normalizeExtents([{ length: 512, flags: 0 }, { length: 0, flags: 1 }, { length: 512, flags: 1 }], req, EXPORT)).toEqual([{ length: 512, flags: 0 }]);
    expect(normalizeExtents([{ length: 512, flags: 0 }, { length: 512, flags: 1 }], { ...req, reqOne: true }, EXPORT)).toEqual([{ length: 512, flags: 0 }]);
  });
});
