/** Every fuzz target, by name. */
import type { FuzzTarget } from "../target.js";
import { initiatorLoginTarget, targetLoginTarget } from "./login.js";
import { decodeTarget, framerTarget } from "./pdu.js";
import { scsiTargets } from "./scsi.js";
import { sessionTarget } from "./session.js";
import { sendTargetsTarget, textTarget } from "./text.js";
import { urlTarget } from "./url.js";

export const TARGETS: readonly FuzzTarget[] = [
  framerTarget,
  decodeTarget,
  textTarget,
  sendTargetsTarget,
  initiatorLoginTarget,
  targetLoginTarget,
  sessionTarget,
  urlTarget,
  ...scsiTargets,
];

export function targetNamed(name: string): FuzzTarget | undefined {
  return TARGETS.find((t) => t.name === name);
}

/** Targets whose name is `pattern` or starts with `pattern.` ("scsi" selects every SCSI parser). */
export function targetsMatching(pattern: string): FuzzTarget[] {
  return TARGETS.filter((t) => t.name === pattern || t.name.startsWith(`${pattern}.`));
}
