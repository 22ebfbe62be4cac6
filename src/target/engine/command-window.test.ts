import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CommandWindow } from "./command-window.js";

describe("CommandWindow", () => {
  it("delivers the expected CmdSN at once and holds one ahead of a gap until the gap fills", () => {
    const w = new CommandWindow<string>(10, 8);
    expect(w.offer(12, "c")).toBe("held");
    expect(w.offer(11, "b")).toBe("held");
    expect(w.next()).toBeUndefined();
    expect(w.offer(10, "a")).toBe("deliver");
    expect([w.next(), w.next(), w.next()]).toEqual(["b", "c", undefined]);
    expect(w.expCmdSN).toBe(13);
  });

  it("ignores commands outside [ExpCmdSN, MaxCmdSN] and repeats of a held one", () => {
    const w = new CommandWindow<string>(100, 4);
    expect(w.maxCmdSN).toBe(103);
    expect(w.offer(99, "old")).toBe("outside-window");
    expect(w.offer(104, "far")).toBe("outside-window");
    expect(w.offer(102, "x")).toBe("held");
    expect(w.offer(102, "y")).toBe("duplicate");
  });

  it("narrows MaxCmdSN while commands are active and never moves it backwards", () => {
    const w = new CommandWindow<number>(0, 3);
    const seen: number[] = [w.maxCmdSN];
    for (let sn = 0; sn < 3; sn++) {
      expect(w.offer(sn, sn)).toBe("deliver");
      seen.push(w.maxCmdSN);
    }
    // Three active commands fill a depth of 3: the window is closed (MaxCmdSN = ExpCmdSN - 1).
    expect(w.maxCmdSN).toBe((w.expCmdSN - 1) >>> 0);
    expect(w.offer(3, 3)).toBe("outside-window");
    w.finish();
    seen.push(w.maxCmdSN);
    expect(w.offer(3, 3)).toBe("deliver");
    for (let i = 1; i < seen.length; i++) expect(seen[i]! >= seen[i - 1]!).toBe(true);
  });

  it("wraps CmdSN past 2^32", () => {
    const w = new CommandWindow<string>(0xffff_fffe, 8);
    expect(w.offer(0, "third")).toBe("held");
    expect(w.offer(0xffff_fffe, "first")).toBe("deliver");
    expect(w.offer(0xffff_ffff, "second")).toBe("deliver");
    expect(w.next()).toBe("third");
    expect(w.expCmdSN).toBe(1);
  });

  it("treats a skipped CmdSN (ABORT TASK of a lost command) as received", () => {
    const w = new CommandWindow<string>(5, 8);
    expect(w.offer(6, "after")).toBe("held");
    expect(w.skip(5)).toBe(true);
    expect(w.next()).toBe("after");
    expect(w.offer(5, "late")).toBe("outside-window");
    expect(w.skip(40)).toBe(false);
  });

  it("delivers every command exactly once, in CmdSN order, whatever the arrival order (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), fc.shuffledSubarray([...Array(20).keys()], { minLength: 20, maxLength: 20 }), (start, order) => {
        const w = new CommandWindow<number>(start, 32);
        const delivered: number[] = [];
        for (const i of order) {
          if (w.offer((start + i) >>> 0, i) === "deliver") delivered.push(i);
          for (let next = w.next(); next !== undefined; next = w.next()) delivered.push(next);
        }
        expect(delivered).toEqual([...Array(20).keys()]);
        expect(w.heldCount).toBe(0);
      }),
    );
  });
});
