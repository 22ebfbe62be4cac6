import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { Emitter } from "./events.js";

interface Events {
  ping: [n: number];
  done: [];
}

describe("Emitter", () => {
  it("calls listeners in the order added, once-listeners only once, and stops calling removed ones", () => {
    const emitter = new Emitter<Events>();
    const seen: string[] = [];
    const a = (n: number): void => void seen.push(`a${n}`);
    emitter.on("ping", a);
    emitter.once("ping", (n) => seen.push(`once${n}`));
    emitter.on("ping", (n) => seen.push(`b${n}`));
    expect(emitter.emit("ping", 1)).toBe(true);
    emitter.off("ping", a);
    emitter.emit("ping", 2);
    expect(seen).toEqual(["a1", "once1", "b1", "b2"]);
    expect(emitter.listenerCount("ping")).toBe(1);
    expect(emitter.emit("done")).toBe(false);
  });

  it("lets a listener remove another during an emit without skipping or repeating any in that emit", () => {
    const emitter = new Emitter<Events>();
    const seen: string[] = [];
    const second = (): void => void seen.push("second");
    emitter.on("done", () => {
      seen.push("first");
      emitter.off("done", second);
    });
    emitter.on("done", second);
    emitter.emit("done");
    emitter.emit("done");
    expect(seen).toEqual(["first", "second", "first"]);
  });

  it("works with Node's events.once, as session.once did when sessions were EventEmitters", async () => {
    const emitter = new Emitter<Events>();
    const waiting = once(emitter as never, "ping");
    emitter.emit("ping", 7);
    expect(await waiting).toEqual([7]);
    expect(emitter.listenerCount("ping")).toBe(0);
  });
});
