/** SendTargets discovery. */
export * from "./send-targets.js";
