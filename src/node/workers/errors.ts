/**
 * Errors across a thread. Structured cloning keeps an Error's message but not its class, its
 * `code` or its fields, so an error raised on a worker is written as plain data (class name,
 * code, message, the class's own fields, its stack and cause) and built again on the caller's
 * thread with the same class's constructor: `instanceof ScsiError`, `error.code` and
 * `error.sense` then work as they do for a session on the caller's own thread.
 */
import {
  AbortedError,
  AuthenticationError,
  ConfigError,
  DigestError,
  IscsiError,
  type IscsiErrorCode,
  LocalProtocolError,
  LoginError,
  NegotiationError,
  NotRetryableError,
  RejectError,
  RemoteProtocolError,
  ScsiError,
  type SenseSummary,
  SessionClosedError,
  ShortTransferError,
  TargetFailureError,
  TaskManagementError,
  TimeoutError,
  type TimeoutKind,
  TransportError,
} from "../../core/errors.js";

/** An error as it crosses a thread: only cloneable values. */
export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly stack?: string;
  /** The class's own fields (ScsiError's status and sense, LoginError's status class, ...). */
  readonly fields: Readonly<Record<string, unknown>>;
  readonly cause?: WireError | { readonly value: unknown };
}

/** Causes nest (a TransportError over a socket error); a cycle or a deep chain stops here. */
const MAX_CAUSE_DEPTH = 4;

/** Fields that every error has or that are written separately. */
const COMMON = new Set(["name", "message", "code", "stack", "cause"]);

export function toWireError(error: unknown, depth = 0): WireError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error), fields: {}, ...(error === undefined ? {} : { cause: { value: cloneable(error) } }) };
  const fields: Record<string, unknown> = {};
  for (const key of Object.keys(error)) {
    if (!COMMON.has(key)) fields[key] = cloneable((error as unknown as Record<string, unknown>)[key]);
  }
  const code = (error as { code?: unknown }).code;
  const cause = (error as { cause?: unknown }).cause;
  return {
    name: error.name,
    message: error.message,
    ...(typeof code === "string" ? { code } : {}),
    ...(error.stack === undefined ? {} : { stack: error.stack }),
    fields,
    ...(cause === undefined ? {} : { cause: cause instanceof Error && depth < MAX_CAUSE_DEPTH ? toWireError(cause, depth + 1) : { value: cloneable(cause) } }),
  };
}

/** The value itself when structured cloning takes it, else its text (a function, a class instance with private fields). */
function cloneable(value: unknown): unknown {
  if (value === null || value === undefined) return value;
  const type = typeof value;
  if (type === "string" || type === "number" || type === "boolean" || type === "bigint") return value;
  if (value instanceof Uint8Array) return value.slice();
  try {
    structuredClone(value);
    return value;
  } catch {
    return String(value);
  }
}

type Rebuild = (wire: WireError, cause: unknown) => Error;

const withCause = (cause: unknown): { cause?: unknown } => (cause === undefined ? {} : { cause });
const num = (wire: WireError, key: string): number => wire.fields[key] as number;

/** One constructor call per class of core/errors.ts, with the class's own fields in place. */
const REBUILD: Readonly<Record<string, Rebuild>> = {
  LocalProtocolError: (w, c) => new LocalProtocolError(w.message, withCause(c)),
  RemoteProtocolError: (w, c) => new RemoteProtocolError(w.message, withCause(c)),
  DigestError: (w) => new DigestError(w.fields.which as "header" | "data", w.message),
  LoginError: (w, c) => new LoginError(num(w, "statusClass"), num(w, "statusDetail"), w.message, { ...withCause(c), code: w.code as "ISCSI_ERR_LOGIN" }),
  AuthenticationError: (w, c) =>
    new AuthenticationError(w.message, { ...withCause(c), statusClass: num(w, "statusClass"), statusDetail: num(w, "statusDetail"), mutual: w.code === "ISCSI_ERR_MUTUAL_AUTH" }),
  NegotiationError: (w, c) => new NegotiationError(w.message, w.fields.key as string | undefined, withCause(c)),
  ScsiError: (w) => new ScsiError(num(w, "status"), w.message, w.fields.sense as SenseSummary | undefined, w.fields.senseData as Uint8Array | undefined),
  ShortTransferError: (w) =>
    new ShortTransferError(w.fields.direction as "in" | "out", num(w, "expected"), num(w, "transferred"), w.fields.residualUnderflow as number | undefined, w.message),
  TargetFailureError: (w) => new TargetFailureError(num(w, "response"), w.message),
  TaskManagementError: (w) => new TaskManagementError(num(w, "response"), w.message),
  RejectError: (w) => new RejectError(num(w, "reason"), w.message),
  TransportError: (w, c) => new TransportError(w.message, withCause(c)),
  TimeoutError: (w, c) => new TimeoutError(w.message, { ...withCause(c), kind: w.fields.kind as TimeoutKind }),
  AbortedError: (w, c) => new AbortedError(w.message, withCause(c)),
  NotRetryableError: (w, c) => new NotRetryableError(w.message, withCause(c)),
  SessionClosedError: (w, c) => new SessionClosedError(w.message, withCause(c)),
  ConfigError: (w, c) => new ConfigError(w.message, withCause(c)),
};

/** Node's own error classes keep their class too (a TypeError from a bad argument). */
const BUILTIN: Readonly<Record<string, new (message: string, options?: { cause?: unknown }) => Error>> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
};

/**
 * The error again, on this thread: the same class (any of core/errors.ts, or a built-in), code,
 * message and fields. The stack is the worker's, where the error was raised. `cause`, when the
 * caller has a better one (the reason of its own AbortSignal), replaces the worker's.
 */
export function fromWireError(wire: WireError, cause?: unknown): Error {
  const wireCause = wire.cause === undefined ? undefined : "value" in wire.cause ? wire.cause.value : fromWireError(wire.cause);
  const ownCause = cause ?? wireCause;
  const rebuild = REBUILD[wire.name];
  let error: Error;
  if (rebuild !== undefined) error = rebuild(wire, ownCause);
  else if (wire.code !== undefined && wire.code.startsWith("ISCSI_ERR_")) {
    // A class this table does not know yet: its code and base class still hold.
    error = new IscsiError(wire.code as IscsiErrorCode, wire.message, withCause(ownCause));
    error.name = wire.name;
  } else {
    error = new (BUILTIN[wire.name] ?? Error)(wire.message, withCause(ownCause));
    if (!(wire.name in BUILTIN)) error.name = wire.name;
    if (wire.code !== undefined) (error as { code?: string }).code = wire.code;
  }
  for (const [key, value] of Object.entries(wire.fields)) {
    if (!(key in error)) (error as unknown as Record<string, unknown>)[key] = value;
  }
  if (wire.stack !== undefined) error.stack = wire.stack;
  return error;
}
