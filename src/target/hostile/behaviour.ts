/**
 * Hostile-target behaviours: things the embedded target can be told to do wrong on purpose, one
 * per scenario, so that tests can check an initiator ends each in a typed error and a closed
 * connection (no crash, no hang, no unbounded memory). Each applies to every connection of the
 * target; full-feature misbehaviours hit the first PDU they can after `skip` others of their kind,
 * once per connection.
 */
import { ConfigError } from "../../core/errors.js";
import { MAX_DATA_SEGMENT_LENGTH_FIELD } from "../../core/pdu/opcodes.js";

export type HostileBehaviour =
  /**
   * A PDU whose DataSegmentLength claims `length` bytes (16 MiB - 1 unless told) while only a few
   * follow: in full feature phase the first SCSI Response or Data-In, at login the first Login
   * Response (where 8192 is the limit, RFC 7143 §13.12).
   */
  | { readonly kind: "huge-data-segment"; readonly phase?: "login" | "full-feature"; readonly length?: number; readonly skip?: number }
  /** A SCSI Response or Data-In whose Initiator Task Tag names no task of the initiator's. */
  | { readonly kind: "unknown-task-tag"; readonly pdu: "scsi-response" | "data-in"; readonly skip?: number }
  /** A second SCSI Response for a task that already has its status (a reused task tag). */
  | { readonly kind: "reused-task-tag"; readonly skip?: number }
  /** A Data-In whose Buffer Offset puts its data past the end of the command's buffer. */
  | { readonly kind: "data-in-beyond-buffer"; readonly skip?: number }
  /** An R2T asking for data past the command's Expected Data Transfer Length. */
  | { readonly kind: "r2t-beyond-transfer"; readonly skip?: number }
  /**
   * One bit flipped in the header (a SCSI Response or Data-In) or the data segment (the first PDU
   * with one) after its digest was computed. Only digests can reveal it: negotiate them, or the
   * initiator receives altered data without any way to know.
   */
  | { readonly kind: "bad-digest"; readonly which: "header" | "data"; readonly skip?: number }
  /** A status PDU whose StatSN jumps `by` (5 unless told) past the one expected (RFC 7143 §4.2.2.2). */
  | { readonly kind: "statsn-jump"; readonly by?: number; readonly skip?: number }
  /**
   * A status PDU newer than any its connection sent (ExpCmdSN one past the highest before, H + 1)
   * whose MaxCmdSN goes back to H: an empty window (RFC 7143 §4.2.2.1) that shuts out a command
   * the initiator already sent. It hits the first status PDU (after `skip` others) that goes out
   * while the initiator has sent a command past H, so a test needs two commands in flight on one
   * connection. (On a connection joining a session, H is what that connection saw, and the
   * initiator may already know a later window: then the PDU is merely stale.)
   */
  | { readonly kind: "maxcmdsn-backwards"; readonly skip?: number }
  /**
   * Not a fault: window updates stamped early and sent late, as istgt sends them. Every Data-In
   * without status and every R2T carries the ExpCmdSN and MaxCmdSN that its connection's PDU
   * `lag` (2 unless told) window-carrying PDUs earlier had, so it may be older than what the same
   * connection or another one of the session has already carried. RFC 7143 §4.2.2.1: the
   * initiator ignores such values, so it must go on without an error or a recovery. Status PDUs
   * carry the current window, so the window still opens.
   */
  | { readonly kind: "maxcmdsn-stale"; readonly lag?: number }
  /**
   * A READ answered GOOD with less data than it asks for: the first Data-In carrying status (after
   * `skip` others) loses the second half of its data, with the U bit and a residual for what it
   * lost ("residual") or with no residual ("no-residual"); or loses all of it and goes as a SCSI
   * Response with a residual ("no-data"), so a one-PDU READ gets no Data-In at all.
   */
  | { readonly kind: "short-read"; readonly variant: "residual" | "no-residual" | "no-data"; readonly skip?: number }
  /**
   * A WRITE answered GOOD instead of its first R2T (after `skip` others): its data is never asked
   * for. The status carries a residual underflow for the burst the R2T would have asked for (the
   * whole transfer of a small write) or none.
   */
  | { readonly kind: "write-good-early"; readonly variant: "residual" | "no-residual"; readonly skip?: number }
  /** The target's operational-stage Login Response says `key=value` (out of range, or not allowed). */
  | { readonly kind: "negotiation-out-of-range"; readonly key: string; readonly value: string }
  /**
   * Garbage in the first Login Response's text: bytes that are not UTF-8, a pair without "=", a
   * key name of 64+ bytes, a 9000-byte value, or thousands of keys (the last two sent over several
   * PDUs with the C bit, as long text must be).
   */
  | { readonly kind: "garbage-login-keys"; readonly variant: "non-utf8" | "no-equals" | "long-key" | "long-value" | "many-keys"; readonly count?: number }
  /**
   * Mutual CHAP turned back on the initiator: the target answers the initiator's challenge with
   * the response the initiator's own secret gives (a reflection, RFC 7143 §12.1.3), echoing its
   * CHAP_I and CHAP_C; and in the next login the target's own challenge is the one the initiator
   * sent in the last.
   */
  | { readonly kind: "chap-reflect" }
  /** A CHAP value of the wrong size: the target's CHAP_C (1 byte, or 64 KiB) or its mutual CHAP_R. */
  | { readonly kind: "chap-value"; readonly key: "CHAP_C" | "CHAP_R"; readonly bytes: number };

export type HostileKind = HostileBehaviour["kind"];

export function checkHostile(behaviour: HostileBehaviour): HostileBehaviour {
  const skip = "skip" in behaviour ? behaviour.skip : undefined;
  if (skip !== undefined && (!Number.isInteger(skip) || skip < 0)) throw new ConfigError(`hostile ${behaviour.kind}: skip ${skip} is not a count`);
  switch (behaviour.kind) {
    case "huge-data-segment": {
      const length = behaviour.length;
      if (length !== undefined && (!Number.isInteger(length) || length < 1 || length > MAX_DATA_SEGMENT_LENGTH_FIELD)) {
        throw new ConfigError(`hostile huge-data-segment: length ${length} does not fit the 24-bit DataSegmentLength`);
      }
      break;
    }
    case "statsn-jump":
      if (behaviour.by !== undefined && (!Number.isInteger(behaviour.by) || behaviour.by < 1 || behaviour.by >= 0x8000_0000)) {
        throw new ConfigError(`hostile statsn-jump: by ${behaviour.by} is not a forward jump`);
      }
      break;
    case "maxcmdsn-stale":
      if (behaviour.lag !== undefined && (!Number.isInteger(behaviour.lag) || behaviour.lag < 1 || behaviour.lag > 64)) {
        throw new ConfigError(`hostile maxcmdsn-stale: lag ${behaviour.lag} is outside 1..64`);
      }
      break;
    case "negotiation-out-of-range":
      if (!/^[A-Za-z0-9.\-+@_]{1,63}$/.test(behaviour.key) || behaviour.value.includes("\0")) {
        throw new ConfigError(`hostile negotiation-out-of-range: "${behaviour.key}=${behaviour.value}" is not a key=value pair`);
      }
      break;
    case "garbage-login-keys":
      if (behaviour.count !== undefined && (!Number.isInteger(behaviour.count) || behaviour.count < 1 || behaviour.count > 100_000)) {
        throw new ConfigError(`hostile garbage-login-keys: count ${behaviour.count} is outside 1..100000`);
      }
      break;
    case "chap-value":
      if (!Number.isInteger(behaviour.bytes) || behaviour.bytes < 1 || behaviour.bytes > 1024 * 1024) {
        throw new ConfigError(`hostile chap-value: ${behaviour.bytes} bytes is outside 1..1 MiB`);
      }
      break;
    default:
      break;
  }
  return behaviour;
}
