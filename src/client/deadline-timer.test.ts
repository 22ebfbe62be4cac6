import { describe, expect, it } from "vitest";
import { DeadlineTimer } from "./deadline-timer.js";
import type { HostTimer } from "./host.js";

/** A host clock and timer list the test moves by hand. */
function manualHost() {
  let now = 0;
  const timers: Array<{ at: number; fn: () => void; cancelled: boolean; held: boolean }> = [];
  return {
    now: () => now,
    setTimer(delayMs: number, fn: () => void): HostTimer {
      const entry = { at: now + delayMs, fn, cancelled: false, held: true };
      timers.push(entry);
      return { cancel: () => void (entry.cancelled = true), hold: (h) => void (entry.held = h) };
    },
    advance(ms: number): void {
      now += ms;
      for (const t of timers.filter((t) => !t.cancelled && t.at <= now)) {
        t.cancelled = true;
        t.fn();
      }
    },
    live: () => timers.filter((t) => !t.cancelled),
  };
}

describe("DeadlineTimer", () => {
  it("keeps one timer at the earliest deadline: an earlier one moves it, a later one does not", () => {
    const host = manualHost();
    const fired: number[] = [];
    const timer = new DeadlineTimer(host, (now) => fired.push(now));
    timer.arm(100, true);
    timer.arm(50, true);
    timer.arm(80, true);
    expect(host.live().map((t) => t.at)).toEqual([50]);
    host.advance(50);
    expect(fired).toEqual([50]);
    expect(host.live()).toEqual([]);
  });

  it("lets the timer go, not hold the process, when nothing is due, and passes on whether a wait holds it", () => {
    const host = manualHost();
    const fired: number[] = [];
    const timer = new DeadlineTimer(host, (now) => fired.push(now));
    timer.arm(10, false);
    expect(host.live()[0]?.held).toBe(false);
    timer.arm(10, true);
    expect(host.live()[0]?.held).toBe(true);
    timer.arm(undefined, true);
    // Not cancelled (no host timer set and cancelled per command), but no longer holding.
    expect(host.live().map((t) => t.held)).toEqual([false]);
    // A later deadline keeps the early timer; its wake-up finds the machine and re-arms.
    timer.arm(50, true);
    expect(host.live().map((t) => t.at)).toEqual([10]);
    host.advance(10);
    expect(fired).toEqual([10]);
  });

  it("cancels for good on clear (a closed session)", () => {
    const host = manualHost();
    const timer = new DeadlineTimer(host, () => undefined);
    timer.arm(10, true);
    timer.clear();
    expect(host.live()).toEqual([]);
  });
});
