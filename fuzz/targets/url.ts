/** parseIscsiUrl (and parseHostPort) of any text: libiscsi/QEMU-style URLs, broken in every way. */
import fc from "fast-check";
import { parseHostPort, parseIscsiUrl, redactUrl } from "../../src/core/url.js";
import { corpus, once } from "../corpus.js";
import { split, withConfig } from "../stream.js";
import { type FuzzTarget, proportional } from "../target.js";

const decoder = new TextDecoder("utf-8", { fatal: false });

const arbHost = fc.oneof(
  fc.constantFrom("127.0.0.1", "localhost", "[::1]", "[fe80::1%eth0]", "host.example", "::1", "[", "]", ""),
  fc.ipV4(),
  fc.ipV6().map((a) => `[${a}]`),
  fc.domain(),
);
const arbPort = fc.oneof(fc.constant(""), fc.integer({ min: 0, max: 70000 }).map((p) => `:${p}`), fc.constantFrom(":", ":x", ":-1", ":3260:3260"));
const arbCredentials = fc.oneof(
  fc.constant(""),
  fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 })).map(([u, s]) => `${u}%${s}@`),
  fc.string({ maxLength: 12 }).map((u) => `${u}@`),
);
const arbIqn = fc.oneof(fc.constantFrom("iqn.2026-11.test:disk", "eui.0123456789abcdef", "naa.0123456789abcdef", "", "iqn"), fc.string({ maxLength: 40 }));
const arbLun = fc.oneof(fc.constant(""), fc.integer({ min: -2, max: 20000 }).map((n) => `/${n}`), fc.constantFrom("/", "/x", "/1/2", "/01"));
const arbQuery = fc.oneof(
  fc.constant(""),
  fc.array(fc.tuple(fc.constantFrom("header_digest", "target_user", "target_password", "x", ""), fc.constantFrom("crc32c", "none", "CRC32C", "", "%zz", "a%20b")), { maxLength: 3 }).map(
    (pairs) => `?${pairs.map(([k, v]) => `${k}=${v}`).join("&")}`,
  ),
);

export const urlTarget: FuzzTarget = {
  name: "url",
  description: "parseIscsiUrl (requireTarget, requireLun from the config byte), redactUrl and parseHostPort of any text",
  arbitrary: withConfig(
    fc.integer({ min: 0, max: 255 }),
    () =>
      fc
        .tuple(fc.constantFrom("iscsi://", "ISCSI://", "iscsi:/", "http://", ""), arbCredentials, arbHost, arbPort, arbIqn, arbLun, arbQuery)
        .map((parts) => new TextEncoder().encode(`${parts[0]}${parts[1]}${parts[2]}${parts[3]}/${parts[4]}${parts[5]}${parts[6]}`)),
  ),
  seeds: once(() => corpus("url").map((u) => new Uint8Array([0, ...u]))),
  allocationLimit: (input) => proportional(input, 16),
  run(input) {
    const { config, payload } = split(input);
    const text = decoder.decode(payload);
    redactUrl(text);
    if ((config & 4) !== 0) {
      parseHostPort(text);
      return;
    }
    parseIscsiUrl(text, { requireTarget: (config & 1) !== 0, requireLun: (config & 2) !== 0 });
  },
};
