/**
 * The data of the options that carry some (NBD_OPT_INFO/GO, NBD_OPT_LIST_META_CONTEXT and
 * NBD_OPT_SET_META_CONTEXT), read with every length checked against what the option holds, and
 * the `base:` metadata namespace's query rules.
 */
import { BASE_ALLOCATION, MAX_STRING_LENGTH } from "./constants.js";

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

const decoder = new TextDecoder("utf-8", { fatal: true });

/** A protocol string: UTF-8, no NUL, at most 4096 bytes. */
export function decodeString(bytes: Uint8Array, what: string): Parsed<string> {
  if (bytes.length > MAX_STRING_LENGTH) return { ok: false, reason: `${what} is ${bytes.length} bytes, more than ${MAX_STRING_LENGTH}` };
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return { ok: false, reason: `${what} is not UTF-8` };
  }
  if (text.includes("\0")) return { ok: false, reason: `${what} contains NUL` };
  return { ok: true, value: text };
}

function u32(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(at);
}

function u16(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint16(at);
}

/** NBD_OPT_INFO and NBD_OPT_GO: name length, name, number of information requests, requests. */
export function parseInfoRequest(data: Uint8Array): Parsed<{ readonly name: string; readonly requests: readonly number[] }> {
  if (data.length < 6) return { ok: false, reason: `option data of ${data.length} bytes is shorter than 6` };
  const nameLength = u32(data, 0);
  // "MUST be no larger than the option data length - 6".
  if (nameLength > data.length - 6) return { ok: false, reason: `export name length ${nameLength} runs past the option's ${data.length} bytes` };
  const name = decodeString(data.subarray(4, 4 + nameLength), "the export name");
  if (!name.ok) return name;
  const count = u16(data, 4 + nameLength);
  const rest = data.length - 6 - nameLength;
  if (rest !== 2 * count) return { ok: false, reason: `${count} information requests need ${2 * count} bytes, the option has ${rest}` };
  const requests: number[] = [];
  for (let i = 0; i < count; i++) requests.push(u16(data, 6 + nameLength + 2 * i));
  return { ok: true, value: { name: name.value, requests } };
}

/** NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT: export name, then queries. */
export function parseMetaContextRequest(data: Uint8Array): Parsed<{ readonly name: string; readonly queries: readonly string[] }> {
  if (data.length < 8) return { ok: false, reason: `option data of ${data.length} bytes is shorter than 8` };
  const nameLength = u32(data, 0);
  if (nameLength > data.length - 8) return { ok: false, reason: `export name length ${nameLength} runs past the option's ${data.length} bytes` };
  const name = decodeString(data.subarray(4, 4 + nameLength), "the export name");
  if (!name.ok) return name;
  let at = 4 + nameLength;
  const count = u32(data, at);
  at += 4;
  // Each query takes at least its 4-byte length: a count the data cannot hold is refused before any loop.
  if (count > (data.length - at) / 4) return { ok: false, reason: `${count} queries cannot fit in the option's ${data.length} bytes` };
  const queries: string[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 4 > data.length) return { ok: false, reason: `query ${i + 1} of ${count} runs past the option's data` };
    const length = u32(data, at);
    at += 4;
    if (length > data.length - at) return { ok: false, reason: `query ${i + 1} of ${count} (${length} bytes) runs past the option's data` };
    const query = decodeString(data.subarray(at, at + length), `query ${i + 1}`);
    if (!query.ok) return query;
    queries.push(query.value);
    at += length;
  }
  if (at !== data.length) return { ok: false, reason: `${data.length - at} bytes follow the last query` };
  return { ok: true, value: { name: name.value, queries } };
}

/**
 * The contexts `queries` select (`forList`: NBD_OPT_LIST_META_CONTEXT, where no query means every
 * context and `base:` is a wildcard; else NBD_OPT_SET_META_CONTEXT, where both select nothing).
 * Unknown namespaces and unknown `base:` leaves are ignored, as the document requires; a query
 * without a namespace is invalid.
 */
export function resolveMetaContextQueries(queries: readonly string[], forList: boolean): Parsed<readonly string[]> {
  if (queries.length === 0) return { ok: true, value: forList ? [BASE_ALLOCATION] : [] };
  const selected = new Set<string>();
  for (const query of queries) {
    const colon = query.indexOf(":");
    if (colon <= 0) return { ok: false, reason: `query "${query}" does not start with a namespace and a colon` };
    if (query.slice(0, colon) !== "base") continue;
    const leaf = query.slice(colon + 1);
    if (leaf === "allocation" || (leaf === "" && forList)) selected.add(BASE_ALLOCATION);
  }
  return { ok: true, value: [...selected] };
}
