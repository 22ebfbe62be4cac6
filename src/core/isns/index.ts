/** iSNS (RFC 4171): the iSNSP codec, the messages an iSCSI initiator and target use, and a sans-I/O connection. */
export * from "./constants.js";
export * from "./codec.js";
export * from "./errors.js";
export * from "./ip.js";
export * from "./messages.js";
export * from "./client.js";
export * from "./server-address.js";
