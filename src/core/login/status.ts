/**
 * RFC 7143 §11.13.5 Login Response Status-Class and Status-Detail, and the error each failure maps to.
 */
import { AuthenticationError, LoginError } from "../errors.js";

export const LoginStatus = {
  Success: 0x0000,
  TargetMovedTemporarily: 0x0101,
  TargetMovedPermanently: 0x0102,
  InitiatorError: 0x0200,
  AuthenticationFailure: 0x0201,
  AuthorizationFailure: 0x0202,
  NotFound: 0x0203,
  TargetRemoved: 0x0204,
  UnsupportedVersion: 0x0205,
  TooManyConnections: 0x0206,
  MissingParameter: 0x0207,
  CantIncludeInSession: 0x0208,
  SessionTypeNotSupported: 0x0209,
  SessionDoesNotExist: 0x020a,
  InvalidDuringLogin: 0x020b,
  TargetError: 0x0300,
  ServiceUnavailable: 0x0301,
  OutOfResources: 0x0302,
} as const;
export type LoginStatus = (typeof LoginStatus)[keyof typeof LoginStatus];

const NAMES: ReadonlyMap<number, string> = new Map([
  [0x0000, "success"],
  [0x0101, "target moved temporarily"],
  [0x0102, "target moved permanently"],
  [0x0200, "initiator error"],
  [0x0201, "authentication failure"],
  [0x0202, "authorization failure"],
  [0x0203, "target not found"],
  [0x0204, "target removed"],
  [0x0205, "unsupported version"],
  [0x0206, "too many connections"],
  [0x0207, "missing parameter"],
  [0x0208, "can't include in session"],
  [0x0209, "session type not supported"],
  [0x020a, "session does not exist"],
  [0x020b, "invalid during login"],
  [0x0300, "target error"],
  [0x0301, "service unavailable"],
  [0x0302, "out of resources"],
]);

const CLASS_NAMES: ReadonlyMap<number, string> = new Map([
  [0, "success"],
  [1, "redirection"],
  [2, "initiator error"],
  [3, "target error"],
]);

export function statusHex(statusClass: number, statusDetail: number): string {
  return `0x${((statusClass << 8) | statusDetail).toString(16).padStart(4, "0")}`;
}

/** "authentication failure (status 0x0201)", or the class name for a detail we do not know. */
export function describeLoginStatus(statusClass: number, statusDetail: number): string {
  const name = NAMES.get((statusClass << 8) | statusDetail) ?? `${CLASS_NAMES.get(statusClass) ?? "unknown status class"}, detail ${statusDetail}`;
  return `${name} (status ${statusHex(statusClass, statusDetail)})`;
}

/** The error for a Login Response with status class 2 or 3 (or any unknown class). */
export function loginErrorFromStatus(statusClass: number, statusDetail: number, targetName: string | undefined): LoginError {
  const target = targetName === undefined ? "discovery session" : `target ${targetName}`;
  const message = `login to ${target} refused: ${describeLoginStatus(statusClass, statusDetail)}`;
  if (statusClass === 0x02 && statusDetail === 0x01) return new AuthenticationError(message, { statusClass, statusDetail });
  return new LoginError(statusClass, statusDetail, message);
}
