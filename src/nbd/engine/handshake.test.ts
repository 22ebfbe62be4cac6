import { describe, expect, it } from "vitest";
import { hexOf } from "../../core/hex.js";
import { EXPORT, Harness, clientFlags, concat, infoData, infoOf, metaData, option } from "./client.test-util.js";
import type { NbdExport } from "./export.js";

const ascii = (s: string): string => hexOf(new TextEncoder().encode(s));

describe("the NBD handshake", () => {
  it("greets with NBDMAGIC, IHAVEOPT and the FIXED_NEWSTYLE and NO_ZEROES flags, byte for byte", () => {
    const h = new Harness();
    expect(hexOf(h.server.unread())).toBe(`${ascii("NBDMAGIC")}${ascii("IHAVEOPT")}0003`);
    expect(h.engine.state).toBe("greeting");
  });

  it("answers NBD_OPT_GO with NBD_INFO_EXPORT, NBD_INFO_BLOCK_SIZE and ACK, byte for byte, then enters transmission", () => {
    const h = new Harness();
    h.server.greeting();
    h.send(clientFlags(3), option(7, infoData("iqn.2026-11.test:disk/1", [3])));
    const sent = h.server.unread();
    const replyMagic = "0003e889045565a9";
    const expected =
      // NBD_REP_INFO (3) for NBD_OPT_GO (7), 12 bytes: NBD_INFO_EXPORT, size 64 MiB, flags
      `${replyMagic}00000007000000030000000c` +
      "0000" +
      "0000000004000000" +
      // HAS_FLAGS|SEND_FLUSH|SEND_FUA|SEND_TRIM|SEND_WRITE_ZEROES|CAN_MULTI_CONN|SEND_CACHE = 0x056d
      "056d" +
      // NBD_REP_INFO, 14 bytes: NBD_INFO_BLOCK_SIZE 512 / 4096 / 1 MiB
      `${replyMagic}00000007000000030000000e` +
      "0003" +
      "00000200" +
      "00001000" +
      "00100000" +
      // NBD_REP_ACK
      `${replyMagic}000000070000000100000000`;
    expect(hexOf(sent)).toBe(expected);
    expect(h.engine.state).toBe("transmission");
    expect(h.of("negotiated")).toEqual([{ type: "negotiated", export: EXPORT, via: "go", structuredReplies: false, metaContexts: [], fixedNewstyle: true }]);
  });

  it("answers NBD_OPT_EXPORT_NAME with size and flags, and the 124 zero bytes unless NO_ZEROES was agreed", () => {
    const without = new Harness();
    without.server.greeting();
    without.send(clientFlags(1), option(1, new TextEncoder().encode(EXPORT.name)));
    const long = without.server.exportNameReply(false);
    expect(long.size).toBe(BigInt(64 << 20));
    expect(long.flags).toBe(0x056d);
    expect(long.zeroes).toEqual(new Uint8Array(124));
    expect(without.server.remaining).toBe(0);
    expect(without.of("negotiated")[0]).toMatchObject({ via: "export-name" });

    const short = new Harness();
    short.server.greeting();
    short.send(clientFlags(3), option(1));
    expect(short.server.exportNameReply(true).size).toBe(BigInt(64 << 20));
    expect(short.server.remaining).toBe(0);
    expect(short.engine.state).toBe("transmission");
  });

  it("serves a plain newstyle client (no FIXED_NEWSTYLE flag) that sends NBD_OPT_EXPORT_NAME", () => {
    const h = new Harness();
    h.server.greeting();
    h.send(clientFlags(0), option(1));
    expect(h.server.exportNameReply(false).size).toBe(BigInt(64 << 20));
    expect(h.of("negotiated")[0]).toMatchObject({ fixedNewstyle: false });
  });

  it("drops a client whose NBD_OPT_EXPORT_NAME names no export, saying which exports there are", () => {
    const h = new Harness();
    h.server.greeting();
    h.send(clientFlags(3), option(1, new TextEncoder().encode("nope")));
    expect(h.server.remaining).toBe(0);
    expect(h.engine.state).toBe("closed");
    expect(h.of("end")).toEqual([{ type: "end", reason: "unknown-export", message: expect.stringContaining('no export named "nope"') }]);
    expect(h.of("end")[0]?.message).toContain(EXPORT.name);
  });

  it("answers NBD_OPT_ABORT with ACK and ends", () => {
    const h = new Harness();
    h.server.greeting();
    h.send(clientFlags(3), option(2, new Uint8Array([1, 2, 3])));
    expect(h.server.optionReply()).toMatchObject({ option: 2, type: 1 });
    expect(h.of("end")).toEqual([{ type: "end", reason: "abort", message: expect.any(String) }]);
    h.send(option(3));
    expect(h.server.remaining).toBe(0);
  });

  it("lists its exports with NBD_OPT_LIST, and refuses a list request that carries data", () => {
    const two: NbdExport = { ...EXPORT, name: "second" };
    const h = new Harness({ exports: [EXPORT, two] });
    h.server.greeting();
    h.send(clientFlags(3), option(3));
    const replies = h.server.optionReplies();
    expect(replies.map((r) => r.type)).toEqual([2, 2, 1]);
    expect(replies.slice(0, 2).map((r) => new TextDecoder().decode(r.data.subarray(4)))).toEqual([EXPORT.name, "second"]);
    expect(Array.from(replies[0]?.data.subarray(0, 4) ?? [])).toEqual([0, 0, 0, EXPORT.name.length]);
    h.send(option(3, new Uint8Array(1)));
    expect(h.server.optionReply()).toMatchObject({ type: 0x8000_0003 });
  });

  it("answers NBD_OPT_INFO for an unknown export with NBD_REP_ERR_UNKNOWN and a message, and stays in option haggling", () => {
    const h = new Harness();
    h.server.greeting();
    h.send(clientFlags(3), option(6, infoData("missing", [])));
    const [reply] = h.server.optionReplies();
    expect(reply).toMatchObject({ option: 6, type: 0x8000_0006 });
    expect(reply?.text).toContain('no export named "missing"');
    expect(h.of("refused")).toHaveLength(1);
    h.send(option(6, infoData("", [])));
    const info = h.server.optionReplies();
    expect(info.map((r) => r.type)).toEqual([3, 3, 3, 1]);
    // The default name is answered with the canonical one.
    expect(info.filter((r) => r.type === 3).map((r) => infoOf(r.data))).toContainEqual({ type: 1, text: EXPORT.name });
    expect(h.engine.state).toBe("options");
  });

  it("gives NBD_INFO_NAME and NBD_INFO_DESCRIPTION when asked", () => {
    const h = new Harness();
    h.server.greeting();
    h.send(clientFlags(3), option(6, infoData(EXPORT.name, [1, 2, 3, 99])));
    const infos = h.server.optionReplies().filter((r) => r.type === 3).map((r) => infoOf(r.data));
    expect(infos).toEqual([
      { type: 0, size: BigInt(64 << 20), flags: 0x056d },
      { type: 1, text: EXPORT.name },
      { type: 2, text: EXPORT.description },
      { type: 3, min: 512, preferred: 4096, max: 1 << 20 },
    ]);
  });

  it.each([
    ["shorter than 6 bytes", new Uint8Array(5)],
    ["a name length past the data", concat([new Uint8Array([0, 0, 1, 0]), new Uint8Array(2)])],
    ["a request count that does not match the data", concat([infoData("", [3]), new Uint8Array(1)])],
    ["a name that is not UTF-8", concat([new Uint8Array([0, 0, 0, 2, 0xc3, 0x28, 0, 0])])],
  ])("refuses NBD_OPT_GO data with %s as NBD_REP_ERR_INVALID", (_what, data) => {
    const h = new Harness();
    h.server.greeting();
    h.send(clientFlags(3), option(7, data));
    expect(h.server.optionReplies()).toMatchObject([{ option: 7, type: 0x8000_0003 }]);
    expect(h.engine.state).toBe("options");
  });

  it("negotiates structured replies, and refuses NBD_OPT_STRUCTURED_REPLY with data", () => {
    const h = new Harness();
    h.server.greeting();
    h.send(clientFlags(3), option(8, new Uint8Array(2)));
    expect(h.server.optionReply().type).toBe(0x8000_0003);
    h.send(option(8));
    expect(h.server.optionReply()).toMatchObject({ option: 8, type: 1, data: new Uint8Array(0) });
    h.send(option(7, infoData("", [])));
    // With structured replies, NBD_FLAG_SEND_DF joins the transmission flags.
    expect(infoOf(h.server.optionReplies()[0]?.data ?? new Uint8Array())).toMatchObject({ flags: 0x056d | 0x80 });
    expect(h.of("negotiated")[0]).toMatchObject({ structuredReplies: true });
  });

  it("lists base:allocation for no query and for the base: wildcard, ignores other namespaces, and refuses a query without a namespace", () => {
    const h = new Harness();
    h.server.greeting();
    h.send(clientFlags(3), option(9, metaData("", [])));
    const all = h.server.optionReplies();
    expect(all.map((r) => r.type)).toEqual([4, 1]);
    expect(Array.from(all[0]?.data.subarray(0, 4) ?? [])).toEqual([0, 0, 0, 0]);
    expect(new TextDecoder().decode(all[0]?.data.subarray(4))).toBe("base:allocation");
    h.send(option(9, metaData(EXPORT.name, ["base:"])));
    expect(h.server.optionReplies().map((r) => r.type)).toEqual([4, 1]);
    h.send(option(9, metaData("", ["qemu:dirty-bitmap:b", "base:unknown"])));
    expect(h.server.optionReplies().map((r) => r.type)).toEqual([1]);
    h.send(option(9, metaData("", ["nocolon"])));
    expect(h.server.optionReplies().map((r) => r.type)).toEqual([0x8000_0003]);
    h.send(option(9, metaData("missing", [])));
    expect(h.server.optionReplies().map((r) => r.type)).toEqual([0x8000_0006]);
  });

  it("selects base:allocation with NBD_OPT_SET_META_CONTEXT only after structured replies, with context id 1", () => {
    const h = new Harness();
    h.server.greeting();
    h.send(clientFlags(3), option(10, metaData("", ["base:allocation"])));
    expect(h.server.optionReplies().map((r) => r.type)).toEqual([0x8000_0003]);
    h.send(option(8));
    h.server.optionReplies();
    h.send(option(10, metaData("", ["base:allocation", "base:allocation", "qemu:allocation-depth"])));
    const replies = h.server.optionReplies();
    expect(replies.map((r) => r.type)).toEqual([4, 1]);
    expect(Array.from(replies[0]?.data.subarray(0, 4) ?? [])).toEqual([0, 0, 0, 1]);
    h.send(option(7, infoData(EXPORT.name, [])));
    h.server.optionReplies();
    expect(h.of("negotiated")[0]).toMatchObject({ metaContexts: ["base:allocation"] });
  });

  it("forgets contexts selected for another export when NBD_OPT_GO picks a different one", () => {
    const other: NbdExport = { ...EXPORT, name: "other" };
    const h = new Harness({ exports: [EXPORT, other] });
    h.server.greeting();
    h.send(clientFlags(3), option(8), option(10, metaData("other", ["base:allocation"])), option(7, infoData("", [])));
    expect(h.of("negotiated")[0]).toMatchObject({ export: EXPORT, metaContexts: [] });
  });

  it("answers unknown options, extended headers and STARTTLS with NBD_REP_ERR_UNSUP and goes on", () => {
    const h = new Harness();
    h.server.greeting();
    h.send(clientFlags(3), option(11), option(5), option(4242, new Uint8Array(10)));
    expect(h.server.optionReplies()).toMatchObject([{ option: 11, type: 0x8000_0001 }]);
    const tls = h.server.optionReplies();
    expect(tls).toMatchObject([{ option: 5, type: 0x8000_0001 }]);
    expect(tls[0]?.text).toMatch(/TLS is not supported/);
    expect(h.server.optionReplies()).toMatchObject([{ option: 4242, type: 0x8000_0001 }]);
    expect(h.of("refused")).toEqual([]);
    h.send(option(7, infoData("", [])));
    expect(h.engine.state).toBe("transmission");
  });

  it("drops a client whose option does not start with IHAVEOPT", () => {
    const h = new Harness();
    h.server.greeting();
    h.send(clientFlags(3), option(7, infoData("", []), 0x1122334455667788n));
    expect(h.server.remaining).toBe(0);
    expect(h.of("end")).toEqual([{ type: "end", reason: "protocol-error", message: expect.stringMatching(/expected an option \(IHAVEOPT\), got 0x1122334455667788/) }]);
  });

  it("answers over-long option data with NBD_REP_ERR_TOO_BIG and drops the client without waiting for the data", () => {
    const h = new Harness({ maxOptionLength: 1024 });
    h.server.greeting();
    const header = option(7, new Uint8Array(0));
    new DataView(header.buffer).setUint32(12, 0xffff_fff0);
    h.send(clientFlags(3), header);
    const reply = h.server.optionReply();
    expect(reply).toMatchObject({ option: 7, type: 0x8000_0009 });
    expect(reply.text).toMatch(/4294967280 bytes is over this server's limit of 1024/);
    expect(h.of("end")[0]).toMatchObject({ reason: "protocol-error" });
  });

  it("drops a client that sends unknown client flags", () => {
    const h = new Harness();
    h.server.greeting();
    h.send(clientFlags(0x8000_0001));
    expect(h.of("end")).toEqual([{ type: "end", reason: "protocol-error", message: expect.stringMatching(/unknown flags 0x80000001/) }]);
  });

  it("recognises an oldstyle client that sends a request where the newstyle flags belong", () => {
    const h = new Harness();
    h.server.greeting();
    h.send(new Uint8Array([0x25, 0x60, 0x95, 0x13, 0, 0, 0, 0]));
    expect(h.of("end")[0]?.message).toMatch(/oldstyle client\? this server speaks the fixed newstyle handshake only/);
  });

  it("ends a handshake that outlives its time limit, and only then", () => {
    const h = new Harness({ handshakeTimeoutMs: 5000 }, 1000);
    expect(h.engine.pollTimeout()).toBe(6000);
    h.engine.handleTimeout(5999);
    expect(h.pump().of("end")).toEqual([]);
    h.engine.handleTimeout(6000);
    expect(h.pump().of("end")).toEqual([{ type: "end", reason: "timeout", message: expect.stringMatching(/sent no client flags/) }]);
    expect(Harness.negotiated().engine.pollTimeout()).toBeUndefined();
  });

  it("drops a client after too many options", () => {
    const h = new Harness({ maxOptions: 3 });
    h.server.greeting();
    h.send(clientFlags(3), option(3), option(3), option(3), option(3));
    expect(h.of("end")[0]?.message).toMatch(/more than 3 options/);
  });

  it("ends a connection still negotiating at once when the server stops", () => {
    const h = new Harness();
    h.server.greeting();
    h.send(clientFlags(3), option(8));
    h.server.optionReplies();
    h.engine.shutdown();
    h.pump();
    expect(h.of("end")).toEqual([{ type: "end", reason: "shutdown", message: "the server is shutting down" }]);
    h.send(option(7, infoData("", [])));
    expect(h.server.remaining).toBe(0);
  });

  it("gives the same bytes and events however the client's bytes are split", () => {
    const stream = concat([clientFlags(3), option(8), option(10, metaData("", ["base:allocation"])), option(3), option(7, infoData("", [1, 2, 3]))]);
    const whole = new Harness();
    whole.send(stream);
    const reference = whole.server.unread();
    for (let size = 1; size <= 17; size++) {
      const split = new Harness();
      for (let at = 0; at < stream.length; at += size) split.send(stream.subarray(at, at + size));
      expect(hexOf(split.server.unread())).toBe(hexOf(reference));
      expect(split.events).toEqual(whole.events);
    }
  });
});
