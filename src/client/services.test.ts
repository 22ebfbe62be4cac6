import { describe, expect, it } from "vitest";
import { crc32c } from "../core/digest/crc32c.js";
import { checkedCrc32c, randomBytesFrom, socketError } from "./services.js";

const PORTAL = { host: "::1", port: 3260 };

describe("socketError", () => {
  it("names the portal and what happened, by errno code, as the typed error a caller can match", () => {
    expect(socketError({ code: "ECONNREFUSED", message: "x" }, PORTAL)).toMatchObject({ code: "ISCSI_ERR_TRANSPORT", message: "cannot connect to [::1]:3260: connection refused (is a target listening there?)" });
    expect(socketError({ code: "ENOTFOUND", message: "x" }, { host: "nowhere", port: 1 }).message).toBe('cannot connect to nowhere:1: unknown host "nowhere"');
    expect(socketError({ code: "ETIMEDOUT", message: "x" }, PORTAL)).toMatchObject({ code: "ISCSI_ERR_TIMEOUT", kind: "connect" });
    expect(socketError({ code: "EWHATEVER", message: "odd" }, PORTAL).message).toBe("connection to [::1]:3260 failed: odd");
  });
});

describe("checkedCrc32c", () => {
  it("uses a native CRC32C that agrees with the pure one, for data of 256 bytes and more only", () => {
    let calls = 0;
    const native = (data: Uint8Array, initial?: number): number => {
      calls++;
      return crc32c(data, initial);
    };
    const checked = checkedCrc32c(native);
    expect(checked.native).toBe(true);
    calls = 0;
    const small = new Uint8Array(48).fill(7);
    const large = new Uint8Array(4096).fill(9);
    expect(checked.fn(small)).toBe(crc32c(small));
    expect(calls).toBe(0);
    expect(checked.fn(large)).toBe(crc32c(large));
    expect(calls).toBe(1);
  });

  it("refuses a native CRC32C that disagrees on RFC 3720 B.4's vector, or throws, and serves the pure one", () => {
    expect(checkedCrc32c(() => 0).native).toBe(false);
    expect(checkedCrc32c(() => {
      throw new Error("no SSE4.2");
    }).native).toBe(false);
    expect(checkedCrc32c(undefined)).toEqual({ fn: crc32c, native: false });
  });
});

describe("randomBytesFrom", () => {
  it("fills a large request in parts no larger than WebCrypto's 64 KiB quota", () => {
    const sizes: number[] = [];
    const random = randomBytesFrom((view) => {
      sizes.push(view.length);
      view.fill(1);
    });
    const bytes = random(150_000);
    expect(sizes).toEqual([65_536, 65_536, 18_928]);
    expect(bytes.every((b) => b === 1)).toBe(true);
  });
});
