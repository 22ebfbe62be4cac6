import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConnectionTimer, type Fired, SessionTimer, TaskTimer, type TimerHandle, TimerTable } from "./timers.js";

function drain<T>(table: TimerTable<T>, now: number): Fired<T>[] {
  const out: Fired<T>[] = [];
  for (let fired = table.expire(now); fired !== undefined; fired = table.expire(now)) out.push(fired);
  return out;
}

const CONNECTION_TIMERS: ReadonlySet<string> = new Set(Object.values(ConnectionTimer));
const TASK_TIMERS: ReadonlySet<string> = new Set(Object.values(TaskTimer));

/** "login:0", "attempt:read", "time2Retain": what fired, and for whom. */
function names<T>(fired: readonly Fired<T>[]): string[] {
  return fired.map((f) => {
    if (CONNECTION_TIMERS.has(f.timer)) return `${f.timer}:${(f as { cid: number }).cid}`;
    if (TASK_TIMERS.has(f.timer)) return `${f.timer}:${String((f as { item: T }).item)}`;
    return f.timer;
  });
}

describe("TimerTable", () => {
  it("has no timeout while nothing is armed", () => {
    const table = new TimerTable<string>();
    expect(table.pollTimeout()).toBeUndefined();
    expect(table.expire(Number.MAX_SAFE_INTEGER)).toBeUndefined();
  });

  it("polls the earliest of the session's timers, the connections' timers and the task deadlines", () => {
    const table = new TimerTable<string>();
    table.set(SessionTimer.Time2Retain, 120_000);
    table.setFor(0, ConnectionTimer.KeepAliveInterval, 5_000);
    table.schedule(TaskTimer.Attempt, "read", 3_000);
    expect(table.pollTimeout()).toBe(3_000);
    table.setFor(1, ConnectionTimer.Login, 2_500);
    expect(table.pollTimeout()).toBe(2_500);
  });

  it("replaces a named timer when it is armed again, earlier or later, and stops it when set to undefined", () => {
    const table = new TimerTable<string>();
    table.set(SessionTimer.RecoveryBackoff, 1_000);
    table.set(SessionTimer.RecoveryBackoff, 4_000);
    expect(table.get(SessionTimer.RecoveryBackoff)).toBe(4_000);
    expect(table.pollTimeout()).toBe(4_000);
    table.set(SessionTimer.RecoveryBackoff, 500);
    expect(table.pollTimeout()).toBe(500);
    table.set(SessionTimer.RecoveryBackoff, undefined);
    expect(table.get(SessionTimer.RecoveryBackoff)).toBeUndefined();
    expect(table.pollTimeout()).toBeUndefined();
    expect(table.size).toBe(0);
  });

  it("keeps one timer of each name per connection", () => {
    const table = new TimerTable<string>();
    table.setFor(0, ConnectionTimer.Login, 100);
    table.setFor(1, ConnectionTimer.Login, 200);
    table.setFor(0, ConnectionTimer.Login, 300);
    expect(table.getFor(0, ConnectionTimer.Login)).toBe(300);
    expect(table.getFor(1, ConnectionTimer.Login)).toBe(200);
    expect(names(drain(table, 1_000))).toEqual(["login:1", "login:0"]);
  });

  it("fires what is due in deadline order, ties in the order they were armed, and nothing later", () => {
    const table = new TimerTable<string>();
    table.schedule(TaskTimer.Request, "ping", 300);
    table.setFor(2, ConnectionTimer.KeepAliveTimeout, 100);
    table.set(SessionTimer.LogoutDrain, 300);
    table.schedule(TaskTimer.Budget, "write", 200);
    table.schedule(TaskTimer.Attempt, "late", 301);
    expect(names(drain(table, 300))).toEqual(["keepAliveTimeout:2", "budget:write", "request:ping", "logoutDrain"]);
    expect(table.pollTimeout()).toBe(301);
  });

  it("forgets a named timer once it fired, so get says it is not armed", () => {
    const table = new TimerTable<string>();
    table.setFor(4, ConnectionTimer.Logout, 10);
    drain(table, 10);
    expect(table.getFor(4, ConnectionTimer.Logout)).toBeUndefined();
    table.setFor(4, ConnectionTimer.Logout, 20);
    expect(table.pollTimeout()).toBe(20);
  });

  it("neither fires nor polls a cancelled task deadline, and cancelling twice or after firing is harmless", () => {
    const table = new TimerTable<string>();
    const a = table.schedule(TaskTimer.Attempt, "a", 100);
    const b = table.schedule(TaskTimer.Attempt, "b", 200);
    table.cancel(a);
    table.cancel(a);
    expect(table.pollTimeout()).toBe(200);
    expect(names(drain(table, 1_000))).toEqual(["attempt:b"]);
    table.cancel(b);
    table.cancel(undefined);
    expect(table.size).toBe(0);
    expect(table.pollTimeout()).toBeUndefined();
  });

  it("stops every timer of one connection and none of another's", () => {
    const table = new TimerTable<string>();
    for (const timer of Object.values(ConnectionTimer)) {
      table.setFor(0, timer, 100);
      table.setFor(1, timer, 200);
    }
    table.clearFor(0);
    expect(table.pollTimeout()).toBe(200);
    expect(drain(table, 1_000)).toHaveLength(Object.values(ConnectionTimer).length);
  });

  it("takes a timer that a fired one armed when it is due at the same call", () => {
    const table = new TimerTable<string>();
    table.setFor(0, ConnectionTimer.KeepAliveInterval, 100);
    const fired: string[] = [];
    for (let f = table.expire(500); f !== undefined; f = table.expire(500)) {
      fired.push(f.timer);
      if (f.timer === ConnectionTimer.KeepAliveInterval) table.setFor(0, ConnectionTimer.KeepAliveTimeout, 400);
    }
    expect(fired).toEqual(["keepAliveInterval", "keepAliveTimeout"]);
  });

  it("does not grow when every deadline is cancelled before it fires (commands completing in time)", () => {
    const table = new TimerTable<number>();
    const live: TimerHandle[] = [];
    for (let i = 0; i < 100_000; i++) {
      live.push(table.schedule(TaskTimer.Attempt, i, 1_000_000 + i));
      if (live.length > 32) table.cancel(live.shift());
    }
    expect(table.size).toBe(32);
    expect(table.held).toBeLessThan(200);
    expect(table.pollTimeout()).toBe(1_000_000 + 100_000 - 32);
  });

  it("agrees with a sorted list on any sequence of arming, cancelling and firing", () => {
    type Op =
      | { readonly op: "schedule"; readonly at: number }
      | { readonly op: "cancel"; readonly pick: number }
      | { readonly op: "set"; readonly cid: number; readonly at: number | undefined }
      | { readonly op: "expire"; readonly now: number };
    const op = fc.oneof(
      fc.record({ op: fc.constant("schedule" as const), at: fc.integer({ min: 0, max: 1000 }) }),
      fc.record({ op: fc.constant("cancel" as const), pick: fc.nat() }),
      fc.record({ op: fc.constant("set" as const), cid: fc.integer({ min: 0, max: 3 }), at: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }) }),
      fc.record({ op: fc.constant("expire" as const), now: fc.integer({ min: 0, max: 1000 }) }),
    );
    fc.assert(
      fc.property(fc.array(op as fc.Arbitrary<Op>, { maxLength: 300 }), (ops) => {
        const table = new TimerTable<number>();
        // The model: every live entry with its deadline and the order it was armed in.
        const model = new Map<string, { at: number; seq: number }>();
        const handles = new Map<string, TimerHandle>();
        let seq = 0;
        let n = 0;
        for (const o of ops) {
          switch (o.op) {
            case "schedule": {
              const key = `attempt:${n}`;
              handles.set(key, table.schedule(TaskTimer.Attempt, n++, o.at));
              model.set(key, { at: o.at, seq: seq++ });
              break;
            }
            case "cancel": {
              const keys = [...handles.keys()];
              if (keys.length === 0) break;
              const key = keys[o.pick % keys.length] as string;
              table.cancel(handles.get(key));
              handles.delete(key);
              model.delete(key);
              break;
            }
            case "set": {
              const key = `login:${o.cid}`;
              const old = model.get(key);
              table.setFor(o.cid, ConnectionTimer.Login, o.at);
              if (o.at === undefined) model.delete(key);
              else if (old?.at !== o.at) model.set(key, { at: o.at, seq: seq++ });
              break;
            }
            case "expire": {
              const due = [...model.entries()].filter(([, e]) => e.at <= o.now).sort(([, a], [, b]) => a.at - b.at || a.seq - b.seq);
              expect(names(drain(table, o.now))).toEqual(due.map(([key]) => key));
              for (const [key] of due) {
                model.delete(key);
                handles.delete(key);
              }
              break;
            }
          }
          const earliest = Math.min(...[...model.values()].map((e) => e.at));
          expect(table.pollTimeout()).toBe(Number.isFinite(earliest) ? earliest : undefined);
          expect(table.size).toBe(model.size);
        }
      }),
      { numRuns: 300 },
    );
  });
});
