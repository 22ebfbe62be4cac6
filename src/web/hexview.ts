/**
 * The hex view: 16 bytes a row with the byte address, hex and ASCII. Zero bytes are dimmed and
 * printable ones shown in the text column, so the shape of the data (empty, text, random) is seen
 * before anything is read.
 */
import { h } from "./dom.js";
import { hex } from "./format.js";

const ROW = 16;

function byteClass(b: number): string {
  if (b === 0) return "z";
  if (b >= 0x20 && b < 0x7f) return "p";
  return "b";
}

/** Rows for `bytes`, read at byte address `base`; a rule between blocks of `blockSize`. */
export function hexView(bytes: Uint8Array, base: number, blockSize: number): HTMLElement {
  const table = h("div", { class: "hexrows", role: "table" });
  const digits = Math.max(8, (base + bytes.length).toString(16).length);
  for (let at = 0; at < bytes.length; at += ROW) {
    const row = h("div", { class: at % blockSize === 0 && at > 0 ? "hexrow block" : "hexrow", role: "row" });
    row.appendChild(h("span", { class: "addr" }, hex(base + at, digits)));
    const hexCell = h("span", { class: "bytes" });
    const text = h("span", { class: "text" });
    for (let i = at; i < Math.min(bytes.length, at + ROW); i++) {
      const b = bytes[i] as number;
      const cls = byteClass(b);
      hexCell.appendChild(h("span", { class: cls }, hex(b, 2)));
      text.appendChild(h("span", { class: cls }, cls === "p" ? String.fromCharCode(b) : "·"));
    }
    row.append(hexCell, text);
    table.appendChild(row);
  }
  return table;
}
