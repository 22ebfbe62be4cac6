/** The PDU layer: opcodes and PDU types, the LUN field, encoding, decoding, framing and tracing. */
export * from "./opcodes.js";
export * from "./types.js";
export { MAX_LUN, readLun, writeLun } from "./lun.js";
export { encodePdu, encodedLength, writeBhs, type DigestSettings } from "./encode.js";
export { decodePdu } from "./decode.js";
export { Framer, type DataPlacement, type Frame, type FramerSettings } from "./framer.js";
export { describePdu } from "./describe.js";
