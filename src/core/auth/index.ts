/** Authentication: CHAP on both sides, secrets, and the injected hash and random functions. */
export * from "./chap.js";
export * from "./hash.js";
export * from "./secret.js";
