import { describe, expect, it } from "vitest";
import { checkIscsiName, MAX_ISCSI_NAME_BYTES } from "./iscsi-name.js";

function reason(text: string): string {
  const result = checkIscsiName(text);
  if (result.ok) throw new Error(`test: "${text}" was accepted`);
  return result.reason;
}

describe("checkIscsiName", () => {
  it("accepts the three name forms of RFC 7143 §4.2.7.2", () => {
    for (const name of ["iqn.2026-11.io.iscsi-ts:host-1", "iqn.2001-04.com.example", "iqn.2001-04.com.example:storage.disk2.sys1.xyz", "eui.02004567a425678d", "naa.52004567ba64678d", "naa.62004567ba64678d0123456789abcdef"]) {
      expect(checkIscsiName(name), name).toEqual({ ok: true, name });
    }
  });

  it("brings a name to its normalised form: case folded (RFC 3722 §5)", () => {
    expect(checkIscsiName("IQN.2026-01.Com.Example:Disk1")).toEqual({ ok: true, name: "iqn.2026-01.com.example:disk1" });
    expect(checkIscsiName("eui.02004567A425678D")).toEqual({ ok: true, name: "eui.02004567a425678d" });
  });

  it("accepts non-ASCII letters, which stringprep allows", () => {
    expect(checkIscsiName("iqn.2026-01.com.example:dísk")).toEqual({ ok: true, name: "iqn.2026-01.com.example:dísk" });
  });

  it("refuses ASCII characters other than a-z, 0-9, '-', '.' and ':' (RFC 3722 §6), naming the character", () => {
    expect(reason("iqn.2026-01.x:a=b")).toMatch(/^the character "=" is not allowed in an iSCSI name \(only a-z, 0-9, '-', '\.', ':' and non-ASCII letters, RFC 3722 §6\)$/);
    expect(reason("iqn.2026-01.x:a_b")).toMatch(/"_" is not allowed/);
    expect(reason("iqn.2026-01.x:a/b")).toMatch(/"\/" is not allowed/);
    expect(reason("iqn.2026-01.x:a b")).toMatch(/U\+0020 is not allowed/);
    expect(reason("iqn.2026-01.x:a\u0007b")).toMatch(/U\+0007 is not allowed/);
    expect(reason("iqn.2026-01.x:a\u3002b")).toMatch(/U\+3002 is not allowed/);
  });

  it("refuses a name longer than 223 bytes, saying the limit (RFC 7143 §4.2.7.1)", () => {
    const prefix = "iqn.2026-01.com.example:";
    const longest = prefix + "a".repeat(MAX_ISCSI_NAME_BYTES - prefix.length);
    expect(checkIscsiName(longest).ok).toBe(true);
    expect(reason(`${longest}a`)).toBe("it is 224 bytes long; an iSCSI name is at most 223 bytes (RFC 7143 §4.2.7.1)");
    // Bytes, not characters: 'í' is two bytes of UTF-8.
    expect(reason(`${prefix}${"í".repeat(100)}`)).toMatch(/^it is 224 bytes long/);
  });

  it("refuses names of no known form, or malformed ones, saying what the form is", () => {
    expect(reason("")).toBe("it is empty");
    expect(reason("disk1")).toMatch(/must start with iqn\., eui\. or naa\./);
    expect(reason("iqn.2026-13.com.example")).toMatch(/iqn\.yyyy-mm\.reversed\.domain\[:unique\]/);
    expect(reason("iqn.2026-01")).toMatch(/iqn\.yyyy-mm/);
    expect(reason("iqn.2026-01.:disk")).toMatch(/iqn\.yyyy-mm/);
    expect(reason("eui.0200")).toMatch(/eui\. and 16 hex digits/);
    expect(reason("naa.1234")).toMatch(/naa\. and 16 or 32 hex digits/);
  });
});
