/**
 * Renegotiation in full feature phase (RFC 7143 §6.2, §11.10): a Text Request on one connection
 * with the operational keys we change (MaxRecvDataSegmentLength, the one both sides may declare
 * again, §13.12; X- extension keys), whose answer is applied to that connection. Started by the
 * caller (`Session.renegotiate`), or by the session when a target asks with AsyncEvent 4
 * (§11.9.1). The exchange itself is `InitiatorRenegotiation` (core/text); the answer is applied
 * in control.ts, where every Text Response lands.
 */
import { LocalProtocolError } from "../errors.js";
import { RESERVED_TAG } from "../pdu/opcodes.js";
import { encodeText } from "../text/codec.js";
import { InitiatorRenegotiation, type RenegotiationChange } from "../text/renegotiation.js";
import type { Connection } from "./connection.js";
import type { SessionContext } from "./context.js";
import { sendText } from "./control.js";
import type { TextTask } from "./task.js";
import { TaskTimer } from "./timers.js";

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** Whether a renegotiation is under way on connection `cid` (one at a time per connection). */
export function renegotiating<C>(ctx: SessionContext<C>, cid: number): boolean {
  for (const t of ctx.tasks.values()) if (t.kind === "text" && t.renegotiation?.cid === cid) return true;
  return false;
}

/**
 * Starts a renegotiation on `connection`; returns its ITT. `origin.internal` marks the session's
 * own (AsyncEvent 4): nobody waits for it, so it ends without an event either way. A caller's ends
 * with text-complete (the target's pairs, after the connection took the new values) or
 * request-failed. It is a non-immediate request: it waits for the window, and while the session
 * drains for a logout, like any command (§3.2.2.1).
 */
export function startRenegotiation<C>(
  ctx: SessionContext<C>,
  connection: Connection,
  change: RenegotiationChange,
  origin: { readonly internal: boolean; readonly context: C },
  now: number,
): number {
  // Throws LocalProtocolError for a MaxRecvDataSegmentLength outside 512..2^24-1 (§13.12).
  const negotiation = new InitiatorRenegotiation(ctx.config, connection.params, change);
  const pairs = negotiation.request();
  if (pairs.length === 0) throw new LocalProtocolError("a renegotiation needs a key to change (MaxRecvDataSegmentLength or an X- key)");
  const task: TextTask<C> = {
    kind: "text",
    itt: ctx.tasks.allocate(),
    cid: -1,
    context: origin.context,
    chunks: [],
    receivedBytes: 0,
    deadline: now + (ctx.config.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS),
    request: encodeText(pairs),
    renegotiation: { cid: connection.cid, negotiation, internal: origin.internal },
  };
  ctx.tasks.add(task);
  ctx.arm(task, TaskTimer.Request, task.deadline as number);
  if (ctx.window.open && !ctx.hasPending && !ctx.machine.draining) sendText(ctx, task, connection, RESERVED_TAG);
  else ctx.enqueue(task);
  return task.itt;
}
