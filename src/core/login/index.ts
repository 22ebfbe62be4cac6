/** The login state machines (initiator and target side), ISIDs and login status codes. */
export * from "./initiator.js";
export * from "./isid.js";
export * from "./status.js";
export * from "./target.js";
