import { describe, expect, it } from "vitest";
import { RESERVED_TAG } from "../pdu/opcodes.js";
import { type LogoutTask, TaskTable } from "./task.js";

/** The smallest task there is: the table only reads `itt`. */
function task(itt: number): LogoutTask {
  return { kind: "logout", itt, cid: 0, reason: 0 };
}

function tags(table: TaskTable<unknown>): number[] {
  return [...table.values()].map((t) => t.itt);
}

describe("the task table", () => {
  it("hands out tags in sequence and finds each task by its tag", () => {
    const table = new TaskTable<unknown>(10);
    for (let i = 0; i < 5; i++) table.add(task(table.allocate()));
    expect(tags(table)).toEqual([10, 11, 12, 13, 14]);
    expect(table.get(12)?.itt).toBe(12);
    expect(table.size).toBe(5);
  });

  it("never hands out a tag in use, however often the tags wrap past a long-running task", () => {
    const table = new TaskTable<unknown>(1);
    const long = table.allocate();
    table.add(task(long));
    const seen = new Set<number>();
    // Tags wrap through the table's slots many times over while the first task stays.
    for (let i = 0; i < 1000; i++) {
      const tag = table.allocate();
      expect(tag).not.toBe(long);
      expect(table.get(tag)).toBeUndefined();
      table.add(task(tag));
      seen.add(tag);
      table.delete(tag);
    }
    expect(seen.size).toBe(1000);
    expect(table.get(long)?.itt).toBe(long);
    expect(table.size).toBe(1);
  });

  it("skips the reserved tag 0xffffffff when the tags wrap", () => {
    const table = new TaskTable<unknown>(RESERVED_TAG - 1);
    const first = table.allocate();
    table.add(task(first));
    const second = table.allocate();
    expect([first, second]).toEqual([RESERVED_TAG - 1, 0]);
  });

  it("grows past its first size and keeps every task and the order they came in", () => {
    const table = new TaskTable<unknown>(1);
    const added: number[] = [];
    for (let i = 0; i < 300; i++) {
      const tag = table.allocate();
      table.add(task(tag));
      added.push(tag);
    }
    for (const tag of added) expect(table.get(tag)?.itt).toBe(tag);
    expect(tags(table)).toEqual(added);
    // Half of them done: the rest are still there, in order.
    for (const tag of added.filter((_, i) => i % 2 === 0)) table.delete(tag);
    expect(tags(table)).toEqual(added.filter((_, i) => i % 2 === 1));
    expect(table.size).toBe(150);
  });

  it("takes tags it did not hand out itself, that differ only above the low bits", () => {
    const table = new TaskTable<unknown>(1);
    // 5 and 69 are equal modulo 64: neither may shadow or refuse the other.
    table.add(task(5));
    table.add(task(69));
    expect(table.get(5)?.itt).toBe(5);
    expect(table.get(69)?.itt).toBe(69);
    expect(tags(table)).toEqual([5, 69]);
  });

  it("refuses a tag already in use", () => {
    const table = new TaskTable<unknown>(1);
    table.add(task(7));
    expect(() => table.add(task(7))).toThrow(/Initiator Task Tag 0x7 is in use/);
  });

  it("leaves another tag's task alone when asked to delete a tag that is not there", () => {
    const table = new TaskTable<unknown>(1);
    table.add(task(5));
    table.delete(69);
    expect(table.get(5)?.itt).toBe(5);
    expect(table.get(69)).toBeUndefined();
    expect(table.size).toBe(1);
  });

  it("moves a re-tagged task to the end, as a re-issued command", () => {
    const table = new TaskTable<unknown>(1);
    const scsi = { ...task(1), kind: "scsi" } as unknown as Parameters<TaskTable<unknown>["retag"]>[0];
    table.add(scsi);
    table.add(task(table.allocate()));
    table.retag(scsi, table.allocate());
    expect(tags(table)).toEqual([2, 3]);
    expect(table.get(1)).toBeUndefined();
    expect(table.get(3)).toBe(scsi);
  });
});
