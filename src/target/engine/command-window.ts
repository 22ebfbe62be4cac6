/**
 * The target's side of the session-wide command window (RFC 7143 §4.2.2.1): non-immediate
 * commands carry CmdSN, are accepted in [ExpCmdSN, MaxCmdSN], and are delivered to execution in
 * CmdSN order whatever connection brought them ("ordered delivery", §3.2.2.1). A command that
 * arrives ahead of a gap waits here until the gap fills.
 *
 * MaxCmdSN is the queue depth's back-pressure: ExpCmdSN - 1 + depth - active, where `active`
 * counts commands delivered and not yet finished. Delivering a command moves ExpCmdSN and
 * `active` up together, finishing one moves MaxCmdSN up: so MaxCmdSN never goes backwards, which
 * the initiator would ignore anyway (§4.2.2.1).
 */
import { LocalProtocolError } from "../../core/errors.js";
import { serialAdd, serialInWindow } from "../../core/serial.js";

export type Admission = "deliver" | "held" | "outside-window" | "duplicate";

export class CommandWindow<T> {
  #expCmdSN: number;
  readonly #depth: number;
  #active = 0;
  readonly #held = new Map<number, T>();
  /** CmdSNs considered received without their command (RFC 7143 §11.5.1, ABORT TASK of a lost one). */
  readonly #skipped = new Set<number>();

  constructor(expCmdSN: number, depth: number) {
    if (!Number.isInteger(depth) || depth < 1) throw new LocalProtocolError(`command window depth ${depth} must be at least 1`);
    this.#expCmdSN = expCmdSN >>> 0;
    this.#depth = depth;
  }

  /** The queue depth: commands that may be active at once. */
  get depth(): number {
    return this.#depth;
  }

  get expCmdSN(): number {
    return this.#expCmdSN;
  }

  get maxCmdSN(): number {
    const room = Math.max(0, this.#depth - this.#active);
    return (this.#expCmdSN - 1 + room) >>> 0;
  }

  /** Commands delivered and not finished. */
  get active(): number {
    return this.#active;
  }

  /** Commands received ahead of a gap. */
  get heldCount(): number {
    return this.#held.size;
  }

  /** Whether `cmdSN` may be accepted now: in [ExpCmdSN, MaxCmdSN]. */
  inWindow(cmdSN: number): boolean {
    return serialInWindow(cmdSN >>> 0, this.#expCmdSN, this.maxCmdSN);
  }

  /**
   * Offers a non-immediate command. "deliver": it is next; the caller delivers it, then calls
   * `drain()` for any held ones it freed. "held": it waits for a gap before it. "outside-window":
   * RFC 7143 §4.2.2.1 says to ignore it silently. "duplicate": its CmdSN is already held.
   */
  offer(cmdSN: number, item: T): Admission {
    const sn = cmdSN >>> 0;
    if (!this.inWindow(sn)) return "outside-window";
    if (sn === this.#expCmdSN) {
      this.#advance();
      return "deliver";
    }
    if (this.#held.has(sn) || this.#skipped.has(sn)) return "duplicate";
    this.#held.set(sn, item);
    return "held";
  }

  /** The next held command whose turn has come, taking its slot; undefined when there is none. */
  next(): T | undefined {
    this.#skipGaps();
    const item = this.#held.get(this.#expCmdSN);
    if (item === undefined) return undefined;
    this.#held.delete(this.#expCmdSN);
    this.#advance();
    return item;
  }

  /** A delivered command finished: its slot opens (MaxCmdSN moves up by one). */
  finish(): void {
    if (this.#active === 0) throw new LocalProtocolError("command window: finish() with no active command");
    this.#active--;
  }

  /**
   * RFC 7143 §11.5.1: ABORT TASK names a command whose CmdSN (RefCmdSN) is in the window but that
   * never arrived: the target considers it received. Returns true if `cmdSN` was such a gap.
   */
  skip(cmdSN: number): boolean {
    const sn = cmdSN >>> 0;
    if (!this.inWindow(sn) || this.#held.has(sn)) return false;
    this.#skipped.add(sn);
    this.#skipGaps();
    return true;
  }

  /** Held commands, removed (the session is closing). */
  clear(): T[] {
    const items = [...this.#held.values()];
    this.#held.clear();
    this.#skipped.clear();
    return items;
  }

  #advance(): void {
    this.#expCmdSN = serialAdd(this.#expCmdSN, 1);
    this.#active++;
    this.#skipGaps();
  }

  #skipGaps(): void {
    while (this.#skipped.delete(this.#expCmdSN)) this.#expCmdSN = serialAdd(this.#expCmdSN, 1);
  }
}
