import { serialAdd, serialGt, serialLt } from "../serial.js";

/**
 * The session's command window (RFC 7143 §4.2.2.1): CmdSN is the number the next non-immediate
 * command gets; the target accepts CmdSN in [ExpCmdSN, MaxCmdSN]. The window is session-wide,
 * shared by every connection of the session.
 */
export class CommandWindow {
  /** The CmdSN the next non-immediate command will carry. */
  private next: number;
  private expCmdSN: number;
  private maxCmdSN: number;

  constructor(initialCmdSN: number) {
    this.next = initialCmdSN >>> 0;
    this.expCmdSN = this.next;
    // Until the target speaks, assume a window of one command.
    this.maxCmdSN = this.next;
  }

  get cmdSN(): number {
    return this.next;
  }
  get expected(): number {
    return this.expCmdSN;
  }
  get max(): number {
    return this.maxCmdSN;
  }

  /** True when a non-immediate command may be sent now. */
  get open(): boolean {
    // RFC 7143 §4.2.2.1: commands with CmdSN greater than MaxCmdSN are not sent.
    return !serialGt(this.next, this.maxCmdSN);
  }

  /** How many more non-immediate commands fit in the window. */
  get room(): number {
    if (!this.open) return 0;
    return ((this.maxCmdSN - this.next) >>> 0) + 1;
  }

  /** Takes a CmdSN for a non-immediate command. The caller has checked `open`. */
  take(): number {
    const sn = this.next;
    this.next = serialAdd(this.next, 1);
    return sn;
  }

  /** Resets numbering, as after a leading login (the target's ExpCmdSN starts the session). */
  reset(cmdSN: number, expCmdSN: number, maxCmdSN: number): void {
    this.next = cmdSN >>> 0;
    this.expCmdSN = expCmdSN >>> 0;
    this.maxCmdSN = maxCmdSN >>> 0;
  }

  /**
   * Applies ExpCmdSN/MaxCmdSN from a target PDU. RFC 7143 §4.2.2.1: if MaxCmdSN < ExpCmdSN - 1
   * the fields are ignored; otherwise each is taken only when it moves forward.
   * Returns true when the window grew.
   */
  update(expCmdSN: number, maxCmdSN: number): boolean {
    if (serialLt(maxCmdSN, (expCmdSN - 1) >>> 0)) return false;
    const wasOpen = this.room;
    if (serialGt(expCmdSN, this.expCmdSN)) this.expCmdSN = expCmdSN >>> 0;
    if (serialGt(maxCmdSN, this.maxCmdSN)) this.maxCmdSN = maxCmdSN >>> 0;
    return this.room > wasOpen;
  }
}
