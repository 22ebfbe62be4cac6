/** How a run's inputs are shared among targets: by weight, the framer, decoder, session and login machines getting more. */
import type { FuzzTarget } from "./target.js";

export const WEIGHTS: Readonly<Record<string, number>> = {
  framer: 3,
  decode: 3,
  session: 2,
  "login-initiator": 2,
  "login-target": 2,
  text: 2,
};

export function weightOf(target: FuzzTarget): number {
  return WEIGHTS[target.name] ?? 1;
}

/** Each target's share of `total` inputs, by weight, at least one each. */
export function shares(targets: readonly FuzzTarget[], total: number): Map<FuzzTarget, number> {
  const sum = targets.reduce((n, t) => n + weightOf(t), 0);
  return new Map(targets.map((t) => [t, Math.max(1, Math.round((total * weightOf(t)) / sum))]));
}
