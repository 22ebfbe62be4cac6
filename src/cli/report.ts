/**
 * How a failure is shown: one line on stderr, `iscsi: <what failed, where>`, with a hint when the
 * error's code or sense says more than its message; the stack only for an internal error and only
 * with -v. Whatever the text, every secret the tool knows is masked before it is printed.
 */
import { ScsiError } from "../core/index.js";
import { MASK, maskSecrets } from "./argv-secrets.js";
import { errorCode, ExitCode, exitCodeFor } from "./exit-codes.js";

export { MASK, maskSecrets };

export interface FailureReport {
  readonly exitCode: ExitCode;
  /** The stable code, when the error had one. */
  readonly code: string | undefined;
  /** The one line, without the `iscsi: ` prefix and without a newline. */
  readonly message: string;
  /** Extra lines for -v (the stack of an internal error). */
  readonly detail: string | undefined;
}

/** Folds any line breaks (and runs of space) so a message stays one line. */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, "; ").replace(/[ \t]{2,}/g, " ").trim();
}

/** SPC-4 ASC 0x25: LOGICAL UNIT NOT SUPPORTED. */
const ASC_LUN_NOT_SUPPORTED = 0x25;

function hintFor(error: unknown): string | undefined {
  if (error instanceof ScsiError && error.sense?.asc === ASC_LUN_NOT_SUPPORTED) {
    return "the LUN does not exist on this target; `iscsi luns <target-url>` lists them";
  }
  switch (errorCode(error)) {
    case "ISCSI_ERR_AUTH":
      // A login without credentials already says the target requires CHAP (context.ts).
      return error instanceof Error && error.message.includes("the target requires CHAP") ? undefined : "check the CHAP user and secret";
    case "ISCSI_ERR_MUTUAL_AUTH":
      return "the target did not prove the mutual CHAP secret; check --chap-target-secret-file or ISCSI_CHAP_TARGET_SECRET";
    default:
      return undefined;
  }
}

export function describeFailure(error: unknown, options: { readonly secrets?: readonly string[]; readonly verbose?: boolean } = {}): FailureReport {
  const secrets = options.secrets ?? [];
  const exitCode = exitCodeFor(error);
  const code = errorCode(error);
  const raw = error instanceof Error ? error.message : String(error);
  let message = oneLine(raw) || "failed";
  // commander prefixes its own messages; ours say what failed without it.
  message = message.replace(/^error:\s*/i, "");
  const hint = hintFor(error);
  if (hint !== undefined && !message.includes(hint)) message += ` (${hint})`;
  if (exitCode === ExitCode.Internal) {
    message = `internal error: ${message}${options.verbose ? "" : " (run with -v for details)"}`;
  }
  const stack = error instanceof Error ? error.stack : undefined;
  const detail = exitCode === ExitCode.Internal && options.verbose && stack !== undefined ? maskSecrets(stack, secrets) : undefined;
  return { exitCode, code, message: maskSecrets(message, secrets), detail };
}
