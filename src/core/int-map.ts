/**
 * A map from integer keys (task tags, request ids, connection ids; hashed on their low 32 bits,
 * compared whole) to values, for maps that take and drop an entry per command: open addressing with linear probing
 * in plain arrays, at most half full, deletion by shifting back (no tombstones), never rebuilt
 * but to grow.
 *
 * Why not a Map: a JavaScript Map whose entries come and go at this rate is rebuilt every few
 * dozen operations, and the data path showed the cost in the garbage collector. With the
 * initiator's task table a Map (4 KiB reads at QD32 against tgtd), every young collection
 * promoted about 2.5 MB, a quarter of what had been allocated, and took 5 to 7 ms; the tasks,
 * and what they reach, outlived their commands until the next full collection. With arrays the
 * same run's collections promote nothing and take 0.4 ms. (V8 links each rebuilt Map table to its
 * successor for live iterators, so one promoted table is the likely root of that chain.)
 *
 * `values()` and `keys()` give the entries in the order they were set, as a Map does; they sort,
 * so they are for the slow paths (recovery, task management), not per command.
 */
export class IntMap<V> {
  private tags: number[];
  private vals: Array<V | undefined>;
  /** When each slot's entry was set (for the order of `values()`). */
  private added: number[];
  private used: Uint8Array;
  private mask: number;
  private count = 0;
  private nextAdded = 0;

  constructor(initialSlots = 16) {
    let size = 8;
    while (size < initialSlots) size *= 2;
    this.tags = new Array<number>(size).fill(0);
    this.vals = new Array<V | undefined>(size).fill(undefined);
    this.added = new Array<number>(size).fill(0);
    this.used = new Uint8Array(size);
    this.mask = size - 1;
  }

  get size(): number {
    return this.count;
  }

  get(key: number): V | undefined {
    const slot = this.find(key);
    return slot < 0 ? undefined : this.vals[slot];
  }

  has(key: number): boolean {
    return this.find(key) >= 0;
  }

  set(key: number, value: V): this {
    const found = this.find(key);
    if (found >= 0) {
      this.vals[found] = value;
      return this;
    }
    if ((this.count + 1) * 2 > this.tags.length) this.grow();
    let slot = home(key, this.mask);
    while (this.used[slot] === 1) slot = (slot + 1) & this.mask;
    this.used[slot] = 1;
    this.tags[slot] = key;
    this.vals[slot] = value;
    this.added[slot] = this.nextAdded++;
    this.count++;
    return this;
  }

  delete(key: number): boolean {
    let slot = this.find(key);
    if (slot < 0) return false;
    this.count--;
    // Shift back the entries after it in its run that may sit in its place (Knuth's algorithm R),
    // so lookups never need tombstones.
    const mask = this.mask;
    for (let next = (slot + 1) & mask; this.used[next] === 1; next = (next + 1) & mask) {
      const want = home(this.tags[next] as number, mask);
      // `next` may move to `slot` unless its home lies cyclically in (slot, next].
      const stays = slot <= next ? slot < want && want <= next : slot < want || want <= next;
      if (stays) continue;
      this.tags[slot] = this.tags[next] as number;
      this.vals[slot] = this.vals[next];
      this.added[slot] = this.added[next] as number;
      slot = next;
    }
    this.used[slot] = 0;
    this.vals[slot] = undefined;
    return true;
  }

  /** The values in the order their keys were set. */
  values(): IterableIterator<V> {
    return this.inOrder()
      .map((slot) => this.vals[slot] as V)
      .values();
  }

  /** The keys in the order they were set. */
  keys(): IterableIterator<number> {
    return this.inOrder()
      .map((slot) => this.tags[slot] as number)
      .values();
  }

  private inOrder(): number[] {
    const slots: number[] = [];
    for (let slot = 0; slot < this.used.length; slot++) if (this.used[slot] === 1) slots.push(slot);
    return slots.sort((a, b) => (this.added[a] as number) - (this.added[b] as number));
  }

  private find(key: number): number {
    const mask = this.mask;
    for (let slot = home(key, mask); this.used[slot] === 1; slot = (slot + 1) & mask) {
      if (this.tags[slot] === key) return slot;
    }
    return -1;
  }

  private grow(): void {
    const { tags: keys, vals, added, used } = this;
    const size = keys.length * 2;
    this.tags = new Array<number>(size).fill(0);
    this.vals = new Array<V | undefined>(size).fill(undefined);
    this.added = new Array<number>(size).fill(0);
    this.used = new Uint8Array(size);
    this.mask = size - 1;
    for (let old = 0; old < used.length; old++) {
      if (used[old] !== 1) continue;
      let slot = home(keys[old] as number, this.mask);
      while (this.used[slot] === 1) slot = (slot + 1) & this.mask;
      this.used[slot] = 1;
      this.tags[slot] = keys[old] as number;
      this.vals[slot] = vals[old];
      this.added[slot] = added[old] as number;
    }
  }
}

/** A key's first slot: Fibonacci hashing, folded, spreads keys that differ only in high bits too. */
function home(key: number, mask: number): number {
  const h = Math.imul(key, 0x9e3779b1);
  return (h ^ (h >>> 16)) & mask;
}
