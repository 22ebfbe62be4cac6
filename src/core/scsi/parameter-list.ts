/**
 * The target-side verdict on a Data-Out parameter list (UNMAP, PERSISTENT RESERVE OUT): either it
 * parses, or it is refused with the additional sense code the device server must return
 * (CHECK CONDITION, ILLEGAL REQUEST) and, where one field is to blame, that field's byte offset
 * for the sense-key specific field pointer (C/D = 0, SPC-4 §4.5.2.4.2).
 */

/** SPC-4 §4.5.6: 0x1A/0x00 PARAMETER LIST LENGTH ERROR. */
export const PARAMETER_LIST_LENGTH_ERROR = { asc: 0x1a, ascq: 0x00 } as const;
/** SPC-4 §4.5.6: 0x26/0x00 INVALID FIELD IN PARAMETER LIST. */
export const INVALID_FIELD_IN_PARAMETER_LIST = { asc: 0x26, ascq: 0x00 } as const;

export interface InvalidParameterList {
  readonly kind: "invalid";
  readonly asc: number;
  readonly ascq: number;
  /** Byte offset of the offending field in the parameter list, if one field is to blame. */
  readonly field: number | undefined;
  /** What was wrong, for logs (never shown as the sense text). */
  readonly reason: string;
}

export function invalidParameterList(
  code: { readonly asc: number; readonly ascq: number },
  field: number | undefined,
  reason: string,
): InvalidParameterList {
  return { kind: "invalid", asc: code.asc, ascq: code.ascq, field, reason };
}
