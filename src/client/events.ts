/**
 * A small typed event emitter: the subset of Node's EventEmitter that sessions offer (`on`,
 * `once`, `off`, `emit`), so the same objects work on every host. Node's `events.once(emitter,
 * name)` accepts it too, since it has `on` and `removeListener`.
 */
type Listener<Args extends unknown[]> = (...args: Args) => void;

export class Emitter<Events extends { [K in keyof Events]: unknown[] }> {
  #listeners = new Map<keyof Events, Array<{ readonly fn: Listener<never[]>; readonly once: boolean }>>();

  on<K extends keyof Events>(name: K, listener: Listener<Events[K]>): this {
    return this.#add(name, listener, false);
  }

  addListener<K extends keyof Events>(name: K, listener: Listener<Events[K]>): this {
    return this.#add(name, listener, false);
  }

  once<K extends keyof Events>(name: K, listener: Listener<Events[K]>): this {
    return this.#add(name, listener, true);
  }

  off<K extends keyof Events>(name: K, listener: Listener<Events[K]>): this {
    const list = this.#listeners.get(name);
    if (list === undefined) return this;
    const index = list.findIndex((entry) => entry.fn === (listener as unknown as Listener<never[]>));
    if (index >= 0) list.splice(index, 1);
    if (list.length === 0) this.#listeners.delete(name);
    return this;
  }

  removeListener<K extends keyof Events>(name: K, listener: Listener<Events[K]>): this {
    return this.off(name, listener);
  }

  removeAllListeners(name?: keyof Events): this {
    if (name === undefined) this.#listeners.clear();
    else this.#listeners.delete(name);
    return this;
  }

  listenerCount(name: keyof Events): number {
    return this.#listeners.get(name)?.length ?? 0;
  }

  /**
   * Calls each listener in the order added, over a snapshot (a listener that adds or removes
   * listeners changes the next emit, not this one). As with Node's emitter, a listener that
   * throws stops the emit and the exception reaches the caller.
   */
  emit<K extends keyof Events>(name: K, ...args: Events[K]): boolean {
    const list = this.#listeners.get(name);
    if (list === undefined || list.length === 0) return false;
    for (const entry of [...list]) {
      if (entry.once) this.off(name, entry.fn as unknown as Listener<Events[K]>);
      (entry.fn as unknown as Listener<Events[K]>)(...args);
    }
    return true;
  }

  #add<K extends keyof Events>(name: K, listener: Listener<Events[K]>, once: boolean): this {
    const list = this.#listeners.get(name) ?? [];
    list.push({ fn: listener as unknown as Listener<never[]>, once });
    this.#listeners.set(name, list);
    return this;
  }
}
