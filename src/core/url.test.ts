import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatHostPort, formatIscsiUrl, parseHostPort, parseIscsiUrl, redactUrl } from "./url.js";

describe("parseIscsiUrl", () => {
  it("reads libiscsi's full form with user, secret, port, target and LUN", () => {
    expect(parseIscsiUrl("iscsi://alice%secret12chars@10.1.1.27:3261/iqn.2026-11.test:disk/1")).toMatchObject({
      host: "10.1.1.27",
      port: 3261,
      targetName: "iqn.2026-11.test:disk",
      lun: 1,
      username: "alice",
      secret: "secret12chars",
    });
  });

  it("defaults the port to 3260 and accepts a bracketed IPv6 host", () => {
    expect(parseIscsiUrl("iscsi://[2001:db8::1]/iqn.2026-11.test:x/0")).toMatchObject({ host: "2001:db8::1", port: 3260, lun: 0 });
    expect(parseIscsiUrl("iscsi://[::1]:3262/iqn.2026-11.test:x/3")).toMatchObject({ host: "::1", port: 3262, lun: 3 });
  });

  it("accepts a portal alone, and a target without a LUN", () => {
    expect(parseIscsiUrl("iscsi://target.example")).toMatchObject({ host: "target.example", targetName: undefined, lun: undefined });
    expect(parseIscsiUrl("iscsi://h/iqn.2026-11.test:x")).toMatchObject({ targetName: "iqn.2026-11.test:x", lun: undefined });
  });

  it("takes header_digest and mutual CHAP from the query, as libiscsi does", () => {
    const url = parseIscsiUrl("iscsi://u%s@h/iqn.2026-11.test:x/1?header_digest=crc32c&target_user=tgt&target_password=p%40ss");
    expect(url).toMatchObject({ headerDigest: "CRC32C", targetUsername: "tgt", targetSecret: "p@ss" });
  });

  it("keeps a secret that contains '@' or '/' whole", () => {
    expect(parseIscsiUrl("iscsi://u%p@ss/w@host:3261/iqn.2026-11.test:x/2")).toMatchObject({ secret: "p@ss/w", host: "host", port: 3261, lun: 2 });
  });

  it("reads RFC 3986's user:password@ as well as libiscsi's user%secret@, which wins when both could apply", () => {
    expect(parseIscsiUrl("iscsi://u:secretsecret12@10.1.1.27:3261/iqn.2026-11.test:disk/1")).toMatchObject({
      username: "u",
      secret: "secretsecret12",
      host: "10.1.1.27",
      port: 3261,
      lun: 1,
    });
    expect(parseIscsiUrl("iscsi://u:p@ss:w/d@host/iqn.2026-11.test:x/2")).toMatchObject({ username: "u", secret: "p@ss:w/d", host: "host", lun: 2 });
    // With a '%' the split is libiscsi's, so a user name may hold ':' (an IQN).
    expect(parseIscsiUrl("iscsi://iqn.2026-11.test:init%s:e%cret@host/iqn.2026-11.test:x/1")).toMatchObject({
      username: "iqn.2026-11.test:init",
      secret: "s:e%cret",
      host: "host",
    });
  });

  it.each([
    ["http://h/iqn.2026-11.test:x/1", /must start with iscsi:\/\//],
    ["iscsi:///iqn.2026-11.test:x/1", /host is missing/],
    ["iscsi://h:99999/iqn.2026-11.test:x/1", /port "99999"/],
    ["iscsi://h/notaniqn/1", /not an iSCSI name/],
    ["iscsi://h/iqn.2026-11.test:x/one", /LUN "one" is not a number/],
    ["iscsi://h/iqn.2026-11.test:x/16384", /out of range/],
    ["iscsi://::1/iqn.2026-11.test:x/1", /IPv6 address must be written in brackets/],
    ["iscsi://u%@h/iqn.2026-11.test:x/1", /secret after '%' is empty/],
    ["iscsi://u:@h/iqn.2026-11.test:x/1", /secret after ':' is empty/],
    ["iscsi://h:port/iqn.2026-11.test:x/1", /port is not a number/],
    ["iscsi://h/iqn.2026-11.test:x/1?header_digest=md5", /header_digest must be/],
    ["iscsi://h/iqn.2026-11.test:x/1?foo=1", /unknown argument "foo"/],
  ])("refuses %s with a message saying why", (text, why) => {
    expect(() => parseIscsiUrl(text)).toThrow(expect.objectContaining({ code: "ISCSI_ERR_CONFIG", message: expect.stringMatching(why) }));
  });

  it("never puts the secret in its error messages", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9@/%:._-]{1,24}$/), fc.constantFrom("/bad", "/iqn.2026-11.t:x/zz", ":0/iqn.2026-11.t:x/1"), (secret, tail) => {
        fc.pre(secret.length >= 6 && !/^[%@/]/.test(secret));
        const text = `iscsi://user%${secret}@host${tail}`;
        try {
          parseIscsiUrl(text);
        } catch (error) {
          expect((error as Error).message).not.toContain(secret);
        }
      }),
    );
  });

  it("names no part of the credentials, user or secret, in any of its error messages", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9@/%:._-]{1,24}$/),
        fc.constantFrom("%", ":"),
        fc.constantFrom("/bad", "/iqn.2026-11.t:x/zz", ":0/iqn.2026-11.t:x/1", ":99999/iqn.2026-11.t:x/1", "", "/iqn.2026-11.t:x", "/iqn.2026-11.t:x/1?x=1", "_h/iqn.2026-11.t:x/1"),
        (secret, separator, tail) => {
          const messageFor = (text: string): string | undefined => {
            try {
              parseIscsiUrl(text, { requireTarget: true, requireLun: true });
            } catch (error) {
              return (error as Error).message;
            }
            return undefined;
          };
          // A secret that is a word of the message anyway ("target") proves nothing.
          const without = messageFor(`iscsi://host${tail}`) ?? "";
          fc.pre(secret.length >= 6 && !/^[%@/:]/.test(secret) && !(separator === ":" && secret.includes("%")) && !without.includes(secret));
          const message = messageFor(`iscsi://someuser${separator}${secret}@host${tail}`);
          expect(message).toBeDefined();
          expect(message).not.toContain("someuser");
          expect(message).not.toContain(secret);
        },
      ),
    );
  });

  it.each([
    ["iscsi://u%secretsecret12", /the host is missing: user%secret must be followed by '@'/],
    ["iscsi://u%secretsecret12/iqn.2026-11.test:x/1", /the host is missing/],
    ["iscsi://u:secretsecret12/iqn.2026-11.test:x/1", /neither host\[:port\] .* nor user:secret followed by '@'/],
    ["http://u:secretsecret12@host/iqn.2026-11.test:x/1", /must start with iscsi:\/\//],
  ])("never echoes credentials that lost their '@host' or their scheme: %s", (text, why) => {
    let message = "";
    try {
      parseIscsiUrl(text);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(why);
    expect(message).not.toContain("secretsecret12");
  });
});

describe("redactUrl", () => {
  it("hides the whole of the credentials, wherever the parser says they end", () => {
    expect(redactUrl("iscsi://u%p@ss@host/iqn.2026-11.test:x/1")).toBe("iscsi://***@host/iqn.2026-11.test:x/1");
    expect(redactUrl("iscsi://u:p@ss@host/iqn.2026-11.test:x/1")).toBe("iscsi://***@host/iqn.2026-11.test:x/1");
    expect(redactUrl("iscsi://u%pw@host/iqn.2026-11.test:x/1?target_password=zz&x=1")).toBe("iscsi://***@host/iqn.2026-11.test:x/1?target_password=***&x=1");
    expect(redactUrl("iscsi://host/iqn.2026-11.test:x/1")).toBe("iscsi://host/iqn.2026-11.test:x/1");
    expect(redactUrl("iscsi://host:3261/iqn.2026-11.test:x/1")).toBe("iscsi://host:3261/iqn.2026-11.test:x/1");
    expect(redactUrl("iscsi://[fe80::1%eth0]:3261/iqn.2026-11.test:x/1")).toBe("iscsi://[fe80::1%eth0]:3261/iqn.2026-11.test:x/1");
  });

  it("hides an authority that looks like credentials without their '@host'", () => {
    expect(redactUrl("iscsi://u%secret/iqn.2026-11.test:x/1")).toBe("iscsi://***/iqn.2026-11.test:x/1");
    expect(redactUrl("iscsi://u:secret")).toBe("iscsi://***");
  });

  it("leaves no part of any parsed user or secret in the redacted text", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9@/._-]{6,20}$/), fc.constantFrom("%", ":"), (secret, separator) => {
        const text = `iscsi://user${separator}${secret}@host:3260/iqn.2026-11.test:x/1`;
        expect(parseIscsiUrl(text)).toMatchObject({ username: "user", secret });
        expect(redactUrl(text)).toBe("iscsi://***@host:3260/iqn.2026-11.test:x/1");
      }),
    );
  });
});

describe("parseHostPort and formatIscsiUrl", () => {
  it("round-trip a portal and a target URL without credentials", () => {
    expect(parseHostPort("[fd00::5]:3261")).toEqual({ host: "fd00::5", port: 3261 });
    expect(formatIscsiUrl({ host: "fd00::5", port: 3261, targetName: "iqn.2026-11.test:x", lun: 2 })).toBe("iscsi://[fd00::5]:3261/iqn.2026-11.test:x/2");
    expect(formatIscsiUrl({ host: "h", port: 3260 })).toBe("iscsi://h");
  });
});

describe("formatHostPort", () => {
  it("writes a name or an IPv4 address as host:port", () => {
    expect(formatHostPort("127.0.0.1", 3260)).toBe("127.0.0.1:3260");
    expect(formatHostPort("target.example", 3261)).toBe("target.example:3261");
  });

  it("puts an IPv6 literal in brackets so that its colons stay apart from the port's", () => {
    expect(formatHostPort("::1", 3260)).toBe("[::1]:3260");
    expect(formatHostPort("fe80::1%eth0", 3260)).toBe("[fe80::1%eth0]:3260");
  });

  it("writes what parseHostPort reads back", () => {
    for (const host of ["10.0.0.1", "fd00::5", "h"]) expect(parseHostPort(formatHostPort(host, 40000))).toEqual({ host, port: 40000 });
  });
});
