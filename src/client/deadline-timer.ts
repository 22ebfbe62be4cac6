import type { ClientHost, HostTimer } from "./host.js";

/**
 * The one host timer a sans-I/O machine needs (quinn's pattern): after each turn the machine's
 * `pollTimeout()` is its earliest deadline; `arm` keeps a single timer at it, moving it only
 * earlier (a later deadline is met when the early timer fires and the machine is polled again).
 * Shared by the initiator's session driver and the embedded target's server.
 */
export class DeadlineTimer {
  #timer: HostTimer | undefined;
  #at = Number.POSITIVE_INFINITY;

  constructor(
    private readonly host: Pick<ClientHost, "setTimer" | "now">,
    private readonly fire: (now: number) => void,
  ) {}

  /**
   * Runs `fire` at `at` (host milliseconds), or nothing when `at` is undefined. `hold` says
   * whether the wait should keep the process alive (work is waiting on it) or not (keep-alives).
   */
  arm(at: number | undefined, hold: boolean): void {
    if (at === undefined) {
      // Nothing is due: the timer is let go rather than cancelled. A command's deadline comes and
      // goes with each command, and a host timer set and cancelled per command costs more than
      // the command (measured at QD1: Node's timer list insert and unenroll per I/O); one early
      // wake-up that finds nothing due is cheaper. It no longer holds the process open.
      this.#timer?.hold(false);
      return;
    }
    if (this.#timer === undefined || at < this.#at) {
      this.clear();
      this.#at = at;
      this.#timer = this.host.setTimer(Math.max(0, Math.ceil(at - this.host.now())), () => {
        this.#timer = undefined;
        this.#at = Number.POSITIVE_INFINITY;
        this.fire(this.host.now());
      });
    }
    this.#timer.hold(hold);
  }

  clear(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#at = Number.POSITIVE_INFINITY;
  }
}
