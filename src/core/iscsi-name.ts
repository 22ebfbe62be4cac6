/**
 * iSCSI names (RFC 7143 §4.2.7): what a user gives as an initiator name is checked and brought to
 * its normalised form before it is sent, since a target compares names after the same
 * normalisation (access lists, session identity).
 *
 * Normalisation is the "iSCSI" stringprep profile of RFC 3722 §3-§5: characters mapped to nothing
 * are removed, case is folded, and the result is NFKC. Case folding is approximated by
 * `toLowerCase` (the same for every ASCII name and nearly every other one). After it, RFC 3722 §6
 * allows from ASCII only a-z, 0-9, '-', '.' and ':'; other characters are allowed unless
 * stringprep prohibits them (spaces, controls, private use, non-characters, surrogates, ...).
 */
import { encodeUtf8 } from "./utf8.js";

/** RFC 7143 §4.2.7.1: "iSCSI names ... up to a maximum length of 223 bytes" (UTF-8). */
export const MAX_ISCSI_NAME_BYTES = 223;

/** RFC 3454 table B.1 (commonly mapped to nothing), used by RFC 3722 §4. */
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/gu;

/**
 * RFC 3722 §6 prohibited output: ASCII other than a-z 0-9 - . : (uppercase is gone after
 * folding), U+3002 IDEOGRAPHIC FULL STOP, and the stringprep tables C.1.2-C.9 (spaces, controls,
 * private use, non-characters, surrogates, formatting characters, tags), approximated by the
 * Unicode categories they are drawn from.
 */
const PROHIBITED = /[\u0000-\u002C\u002F\u003B-\u0060\u007B-\u007F\u3002]|[\p{Z}\p{Cc}\p{Cf}\p{Co}\p{Cs}\p{Cn}]/u;

/** RFC 7143 §4.2.7.4: iqn.yyyy-mm.reversed-domain-name[:unique]; the date is a real month. */
const IQN = /^iqn\.\d{4}-(0[1-9]|1[0-2])\.[^.:]+(\.[^.:]+)*(:.*)?$/u;
/** RFC 7143 §4.2.7.5: eui. and 16 hex digits (EUI-64). */
const EUI = /^eui\.[0-9a-f]{16}$/;
/** RFC 7143 §4.2.7.6 and RFC 3980: naa. and 16 or 32 hex digits. */
const NAA = /^naa\.([0-9a-f]{16}|[0-9a-f]{32})$/;

/** A name that is fine (`name` is its normalised form) or the reason it is not. */
export type IscsiNameCheck = { readonly ok: true; readonly name: string } | { readonly ok: false; readonly reason: string };

/** Normalises `text` as RFC 3722 does and checks it is an iSCSI name; says why when it is not. */
export function checkIscsiName(text: string): IscsiNameCheck {
  const name = text.replace(MAPPED_TO_NOTHING, "").normalize("NFKC").toLowerCase().normalize("NFKC");
  if (name.length === 0) return { ok: false, reason: "it is empty" };
  const bad = PROHIBITED.exec(name);
  if (bad !== null) {
    const ch = bad[0];
    const what = /^[\x21-\x7e]$/.test(ch) ? `"${ch}"` : `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
    return {
      ok: false,
      reason: `the character ${what} is not allowed in an iSCSI name (only a-z, 0-9, '-', '.', ':' and non-ASCII letters, RFC 3722 §6)`,
    };
  }
  const bytes = encodeUtf8(name).length;
  if (bytes > MAX_ISCSI_NAME_BYTES) {
    return { ok: false, reason: `it is ${bytes} bytes long; an iSCSI name is at most ${MAX_ISCSI_NAME_BYTES} bytes (RFC 7143 §4.2.7.1)` };
  }
  if (name.startsWith("iqn.")) {
    if (!IQN.test(name)) return { ok: false, reason: "an iqn. name is iqn.yyyy-mm.reversed.domain[:unique], e.g. iqn.2026-01.com.example:disk1 (RFC 7143 §4.2.7.4)" };
  } else if (name.startsWith("eui.")) {
    if (!EUI.test(name)) return { ok: false, reason: "an eui. name is eui. and 16 hex digits (RFC 7143 §4.2.7.5)" };
  } else if (name.startsWith("naa.")) {
    if (!NAA.test(name)) return { ok: false, reason: "a naa. name is naa. and 16 or 32 hex digits (RFC 7143 §4.2.7.6)" };
  } else {
    return { ok: false, reason: "it must start with iqn., eui. or naa. (RFC 7143 §4.2.7.2)" };
  }
  return { ok: true, name };
}
