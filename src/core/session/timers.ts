/**
 * Every deadline a session keeps, in one table (quinn-proto's `TimerTable`): named timers of the
 * session and of each connection, and the deadlines of tasks. `pollTimeout()` is the earliest
 * entry and `handleTimeout(now)` takes the entries that are due, one by one, so nothing is
 * recomputed from scattered fields and nothing polls on a tick. Sans I/O: the table only holds
 * numbers; the host's clock comes in as `now`.
 *
 * The entries live in a binary heap ordered by deadline, then by when they were set (two timers
 * due at the same moment fire in the order they were armed). Cancelling marks an entry dead and
 * leaves it in the heap (lazy deletion): the heap drops it when it reaches the top, and rebuilds
 * itself when the dead outnumber the live, so a session that completes every command before its
 * deadline does not grow the heap.
 */

/** Timers of the session as a whole: one of each at most. */
export const SessionTimer = {
  /**
   * When the next login of a session recovery may start: Time2Wait (RFC 7143 §13.15; Parameter2
   * of a target's AsyncEvent 2/3, or Time2Wait of its Logout Response) and our backoff.
   */
  RecoveryBackoff: "recoveryBackoff",
  /**
   * When a recovery gives up and the held commands fail: the initiator's replacement timeout,
   * its own bound in the role Time2Retain plays for the target (RFC 7143 §6.3.5, §13.16).
   */
  Time2Retain: "time2Retain",
  /** When the logout a target asked for (AsyncEvent 1, RFC 7143 §11.9.1) is sent, drained or not. */
  LogoutDrain: "logoutDrain",
  /**
   * ERL 2 connection recovery (erl2.ts): when the next connection replacing a lost one may be
   * made, DefaultTime2Wait after the loss (RFC 7143 §13.15) and our backoff after a failed attempt.
   */
  ConnectionWait: "connectionWait",
  /**
   * ERL 2: when the target lets go of a lost connection's tasks (DefaultTime2Retain after the loss,
   * RFC 7143 §13.16); past it, connection recovery gives way to session reinstatement.
   */
  ConnectionRetain: "connectionRetain",
} as const;
export type SessionTimer = (typeof SessionTimer)[keyof typeof SessionTimer];

/** Timers of one connection (RFC 7143 §8.1.3 states it bounds), one of each per connection at most. */
export const ConnectionTimer = {
  /** XPT_WAIT: the transport connection is being made. */
  Connect: "connect",
  /** IN_LOGIN: the login must complete (RFC 7143 §6.3 leaves the bound to the initiator). */
  Login: "login",
  /** IN_LOGOUT: the Logout Response must come (RFC 7143 §11.14). */
  Logout: "logout",
  /** When the next keep-alive NOP-Out is due, if nothing is received meanwhile (§11.18). */
  KeepAliveInterval: "keepAliveInterval",
  /** When a connection that answered nothing since its keep-alive NOP-Out is declared dead. */
  KeepAliveTimeout: "keepAliveTimeout",
} as const;
export type ConnectionTimer = (typeof ConnectionTimer)[keyof typeof ConnectionTimer];

/** Deadlines of tasks: any number of each, one entry per task and kind. */
export const TaskTimer = {
  /** A SCSI command's current attempt (`timeoutMs`): escalation starts there. */
  Attempt: "attempt",
  /** A SCSI command's whole budget (`budgetMs`), across attempts. */
  Budget: "budget",
  /** A ping, a text exchange or an escalation's task management function got no answer. */
  Request: "request",
} as const;
export type TaskTimer = (typeof TaskTimer)[keyof typeof TaskTimer];

/** A due entry, as `expire` hands it out. */
export type Fired<T> =
  | { readonly timer: SessionTimer; readonly at: number }
  | { readonly timer: ConnectionTimer; readonly at: number; readonly cid: number }
  | { readonly timer: TaskTimer; readonly at: number; readonly item: T };

/** An armed task deadline; give it to `cancel`. Opaque to the caller. */
export interface TimerHandle {
  readonly at: number;
}

class Entry<T> implements TimerHandle {
  live = true;
  constructor(
    readonly at: number,
    readonly seq: number,
    readonly timer: SessionTimer | ConnectionTimer | TaskTimer,
    readonly cid: number,
    /** What a task deadline is for; dropped once cancelled, so a dead entry keeps no task alive. */
    public item: T | undefined,
  ) {}
}

const CONNECTION_TIMERS: readonly ConnectionTimer[] = Object.values(ConnectionTimer);

/** Below this many dead entries the heap is never rebuilt: rebuilding costs more than they do. */
const COMPACT_MIN_DEAD = 64;

function before<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

export class TimerTable<T> {
  private heap: Entry<T>[] = [];
  /** The named timers (session and connection ones) by key, to replace or cancel them. */
  private readonly named = new Map<string, Entry<T>>();
  private seq = 0;
  private dead = 0;

  /** Live entries. */
  get size(): number {
    return this.heap.length - this.dead;
  }

  /** Entries the heap holds, cancelled ones not yet dropped included: what the table costs. */
  get held(): number {
    return this.heap.length;
  }

  /** Arms (or re-arms, or with undefined stops) a session timer. */
  set(timer: SessionTimer, at: number | undefined): void {
    this.setNamed(timer, timer, -1, at);
  }

  /** When a session timer fires, or undefined when it is not armed. */
  get(timer: SessionTimer): number | undefined {
    return this.named.get(timer)?.at;
  }

  /** Arms (or re-arms, or with undefined stops) a timer of connection `cid`. */
  setFor(cid: number, timer: ConnectionTimer, at: number | undefined): void {
    this.setNamed(`${timer}:${cid}`, timer, cid, at);
  }

  getFor(cid: number, timer: ConnectionTimer): number | undefined {
    return this.named.get(`${timer}:${cid}`)?.at;
  }

  /** Stops every timer of connection `cid` (it is gone). */
  clearFor(cid: number): void {
    for (let i = 0; i < CONNECTION_TIMERS.length; i++) this.setNamed(`${CONNECTION_TIMERS[i]}:${cid}`, CONNECTION_TIMERS[i] as ConnectionTimer, cid, undefined);
  }

  /** Arms a task deadline; keep the handle to cancel it. */
  schedule(timer: TaskTimer, item: T, at: number): TimerHandle {
    const entry = new Entry<T>(at, this.seq++, timer, -1, item);
    this.push(entry);
    return entry;
  }

  /** Cancels a task deadline (a no-op for one already fired or cancelled). */
  cancel(handle: TimerHandle | undefined): void {
    if (handle === undefined) return;
    this.kill(handle as Entry<T>);
  }

  /** The earliest armed deadline, or undefined when nothing is armed. */
  pollTimeout(): number | undefined {
    this.dropDeadTop();
    return this.heap[0]?.at;
  }

  /**
   * Takes the earliest entry that is due at `now` (its deadline at or before it), or undefined.
   * Call until undefined: what a fired timer arms meanwhile is taken too if it is due.
   */
  expire(now: number): Fired<T> | undefined {
    this.dropDeadTop();
    const top = this.heap[0];
    if (top === undefined || top.at > now) return undefined;
    this.pop();
    top.live = false;
    if (top.item === undefined) this.named.delete(top.cid < 0 ? top.timer : `${top.timer}:${top.cid}`);
    return top as unknown as Fired<T>;
  }

  private setNamed(key: string, timer: SessionTimer | ConnectionTimer, cid: number, at: number | undefined): void {
    const old = this.named.get(key);
    if (old !== undefined) {
      if (old.at === at) return;
      this.kill(old);
      this.named.delete(key);
    }
    if (at === undefined) return;
    const entry = new Entry<T>(at, this.seq++, timer, cid, undefined);
    this.named.set(key, entry);
    this.push(entry);
  }

  private kill(entry: Entry<T>): void {
    if (!entry.live) return;
    entry.live = false;
    // A cancelled entry waits in the heap until it reaches the top or the heap is rebuilt: it
    // must not hold its task (and the caller's buffers and promise) for that long.
    entry.item = undefined;
    this.dead++;
    if (this.dead >= COMPACT_MIN_DEAD && this.dead * 2 > this.heap.length) this.compact();
  }

  /** Rebuilds the heap from its live entries (Floyd's bottom-up heapify, linear). */
  private compact(): void {
    this.heap = this.heap.filter((e) => e.live);
    this.dead = 0;
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  private dropDeadTop(): void {
    while (this.heap.length > 0 && !(this.heap[0] as Entry<T>).live) {
      this.pop();
      this.dead--;
    }
  }

  private push(entry: Entry<T>): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, heap[parent] as Entry<T>)) break;
      heap[i] = heap[parent] as Entry<T>;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop() as Entry<T>;
    if (heap.length === 0) return;
    heap[0] = last;
    this.down(0);
  }

  private down(start: number): void {
    const heap = this.heap;
    const entry = heap[start] as Entry<T>;
    const n = heap.length;
    let i = start;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && before(heap[child + 1] as Entry<T>, heap[child] as Entry<T>)) child++;
      if (!before(heap[child] as Entry<T>, entry)) break;
      heap[i] = heap[child] as Entry<T>;
      i = child;
    }
    heap[i] = entry;
  }
}
