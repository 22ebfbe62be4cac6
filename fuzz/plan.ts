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

/** Each target's share of `total` inputs, by weight, at least one each; the shares add up to at least `total`. */
export function shares(targets: readonly FuzzTarget[], total: number): Map<FuzzTarget, number> {
  const sum = targets.reduce((n, t) => n + weightOf(t), 0);
  const plan = new Map(targets.map((t) => [t, Math.max(1, Math.floor((total * weightOf(t)) / sum))]));
  let given = [...plan.values()].reduce((a, b) => a + b, 0);
  // Rounding down leaves a few over: they go to the targets in order.
  for (let i = 0; given < total; i = (i + 1) % targets.length, given++) {
    const t = targets[i] as FuzzTarget;
    plan.set(t, (plan.get(t) ?? 0) + 1);
  }
  return plan;
}
