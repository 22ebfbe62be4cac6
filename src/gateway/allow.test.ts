import { describe, expect, it } from "vitest";
import { canonicalAddress, originAllowed, ownOrigins, parseAllowList, parseOrigin, parseOriginList, resolveAllowList } from "./allow.js";

const noLookup = async (host: string): Promise<string[]> => {
  throw Object.assign(new Error(`unexpected lookup of ${host}`), { code: "ENOTFOUND" });
};

describe("parseAllowList", () => {
  it("reads comma-separated HOST:PORT entries, [v6]:PORT, and gives a bare host iSCSI's port 3260", () => {
    expect(parseAllowList("127.0.0.1:3261, [::1]:3262,target.example")).toEqual([
      { host: "127.0.0.1", port: 3261 },
      { host: "::1", port: 3262 },
      { host: "target.example", port: 3260 },
    ]);
  });

  it("keeps one of each entry, comparing names case-insensitively and IPv6 addresses in canonical form", () => {
    expect(parseAllowList("Target.Example:3260,target.example:3260,[0:0::1]:1,[::1]:1")).toEqual([
      { host: "target.example", port: 3260 },
      { host: "::1", port: 1 },
    ]);
  });

  it("refuses an empty list, an empty entry, a wildcard and a bad port, naming the option and the entry", () => {
    expect(() => parseAllowList("")).toThrow(/--allow needs at least one HOST:PORT/);
    expect(() => parseAllowList("127.0.0.1:3260,,10.0.0.1:3260")).toThrow(/empty entry/);
    expect(() => parseAllowList("*:3260")).toThrow(/wildcards are not accepted/);
    expect(() => parseAllowList("127.0.0.1:70000")).toThrow(/--allow "127.0.0.1:70000": port "70000" is not a number from 1 to 65535/);
    expect(() => parseAllowList("::1:3260")).toThrow(/--allow "::1:3260": an IPv6 address must be written in brackets/);
    expect(() => parseAllowList("127.0.0.1:3260", "--only")).not.toThrow();
    expect(() => parseAllowList("host name:1", "--only")).toThrow(/^--only "host name:1"/);
  });
});

describe("canonicalAddress", () => {
  it("writes IPv6 addresses one way and leaves names and odd IPv4 spellings out", () => {
    expect(canonicalAddress("[0:0:0:0:0:0:0:1]")).toBe("::1");
    expect(canonicalAddress("FE80:0::1%eth0")).toBe("fe80::1%eth0");
    expect(canonicalAddress("10.0.0.5")).toBe("10.0.0.5");
    // getaddrinfo would read these as 127.0.0.1; the gateway never gives them to it.
    expect(canonicalAddress("127.1")).toBeUndefined();
    expect(canonicalAddress("0x7f.0.0.1")).toBeUndefined();
    expect(canonicalAddress("localhost")).toBeUndefined();
  });
});

describe("AllowList", () => {
  it("allows exactly the listed address and port, and nothing near it", async () => {
    const allow = await resolveAllowList(parseAllowList("127.0.0.1:3261,[::1]:3262"), noLookup);
    expect(allow.match("127.0.0.1", 3261)).toEqual({ requested: "127.0.0.1:3261", address: "127.0.0.1", port: 3261 });
    expect(allow.match("0:0:0:0:0:0:0:1", 3262)).toEqual({ requested: "[0:0:0:0:0:0:0:1]:3262", address: "::1", port: 3262 });
    expect(allow.match("127.0.0.1", 3262)).toBeUndefined();
    expect(allow.match("127.0.0.2", 3261)).toBeUndefined();
    expect(allow.match("127.1", 3261)).toBeUndefined();
    expect(allow.match("::ffff:127.0.0.1", 3261)).toBeUndefined();
    expect(allow.match("localhost", 3261)).toBeUndefined();
    expect(allow.shown).toEqual(["127.0.0.1:3261", "[::1]:3262"]);
  });

  it("resolves a listed name once, then connects to the address it had for the name or any of its addresses", async () => {
    const looked: string[] = [];
    const lookup = async (host: string): Promise<string[]> => {
      looked.push(host);
      return ["10.0.0.7", "fd00:0::7"];
    };
    const allow = await resolveAllowList(parseAllowList("san.example:3260"), lookup);
    expect(allow.match("SAN.example", 3260)?.address).toBe("10.0.0.7");
    expect(allow.match("fd00::7", 3260)?.address).toBe("fd00::7");
    expect(allow.match("10.0.0.8", 3260)).toBeUndefined();
    expect(allow.match("other.example", 3260)).toBeUndefined();
    expect(looked).toEqual(["san.example"]);
  });

  it("refuses to start when a listed name does not resolve, naming the entry", async () => {
    await expect(resolveAllowList(parseAllowList("nowhere.invalid:3260"), noLookup)).rejects.toThrow(/--allow "nowhere.invalid:3260": cannot resolve nowhere.invalid: no such host/);
  });
});

describe("parseOrigin", () => {
  it("writes an origin as browsers send it: lower case, no default port, no trailing slash", () => {
    expect(parseOrigin("HTTPS://Tools.Example.com:443/")).toBe("https://tools.example.com");
    expect(parseOrigin("http://127.0.0.1:8260")).toBe("http://127.0.0.1:8260");
    expect(parseOrigin("http://[::1]:80")).toBe("http://[::1]");
  });

  it("refuses wildcards, null, paths, other schemes and text that is not a URL", () => {
    expect(() => parseOrigin("*")).toThrow(/--allow-origin "\*": list each origin/);
    expect(() => parseOrigin("null")).toThrow(/"null" would let any page/);
    expect(() => parseOrigin("https://example.com/app")).toThrow(/without a path/);
    expect(() => parseOrigin("ftp://example.com")).toThrow(/http:\/\/ or https:\/\//);
    expect(() => parseOrigin("example.com")).toThrow(/is not an origin/);
  });

  it("reads repeated and comma-separated flags into one list without repeats", () => {
    expect(parseOriginList(["https://a.example, https://b.example", "https://a.example/"])).toEqual(["https://a.example", "https://b.example"]);
  });
});

describe("ownOrigins", () => {
  const machine = { addresses: ["127.0.0.1", "192.168.1.20", "::1"], hostname: "box" };

  it("names the listen address, and localhost beside a loopback one", () => {
    expect(ownOrigins("127.0.0.1", 8260, machine)).toEqual(["http://127.0.0.1:8260", "http://localhost:8260"]);
    expect(ownOrigins("192.168.1.20", 8260, machine)).toEqual(["http://192.168.1.20:8260"]);
    expect(ownOrigins("::1", 80, machine)).toEqual(["http://[::1]", "http://localhost"]);
  });

  it("names every address of the machine and its hostname when listening on all of them", () => {
    expect(ownOrigins("0.0.0.0", 8260, machine)).toEqual([
      "http://127.0.0.1:8260",
      "http://192.168.1.20:8260",
      "http://[::1]:8260",
      "http://localhost:8260",
      "http://box:8260",
    ]);
  });
});

describe("originAllowed", () => {
  const allowed = ["http://127.0.0.1:8260", "https://tools.example.com"];

  it("accepts a listed origin however the header spells it, and nothing else", () => {
    expect(originAllowed("http://127.0.0.1:8260", allowed)).toBe(true);
    expect(originAllowed("HTTPS://TOOLS.example.com:443", allowed)).toBe(true);
    expect(originAllowed("http://127.0.0.1:8261", allowed)).toBe(false);
    expect(originAllowed("http://evil.example", allowed)).toBe(false);
  });

  it("refuses a request without an Origin header, and the opaque origin of a sandboxed page", () => {
    expect(originAllowed(undefined, allowed)).toBe(false);
    expect(originAllowed("null", allowed)).toBe(false);
    expect(originAllowed("not a url", allowed)).toBe(false);
  });
});
