/** Text negotiation: the key=value codec, value forms, the key registry and the negotiator. */
export * from "./codec.js";
export * from "./keys.js";
export * from "./negotiation.js";
export * from "./parameters.js";
export * from "./renegotiation.js";
export * from "./target-address.js";
export * from "./values.js";
export { decodeUtf8, encodeUtf8, utf8Length } from "../utf8.js";
