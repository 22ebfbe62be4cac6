/**
 * Keeps CHAP secrets out of everything the harness prints or throws. Secrets reach peers through
 * command lines (`tgtadm --password`, `iscsi://user%secret@...`), environment variables and even
 * peers' own output (`qemu-img info` echoes the password in its JSON filename), so every text the
 * harness reports goes through `redact` with the secrets it knows of.
 */

const MASK = "***";

/** `iscsi://user%secret@host`: libiscsi's URL form carries the secret after the `%`. */
const URL_SECRET = /(iscsi:\/\/[^%@/\s]*%)[^@/\s]*@/g;

/** Replaces every known secret, and any secret in an iSCSI URL, by a mask. */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(URL_SECRET, `$1${MASK}@`);
  for (const secret of secrets) {
    if (secret.length > 0) out = out.split(secret).join(MASK);
  }
  return out;
}

/** A command line as a person would type it, single-quoting arguments that need it. */
export function formatCommand(file: string, args: readonly string[]): string {
  return [file, ...args].map(quoteArg).join(" ");
}

function quoteArg(arg: string): string {
  if (arg !== "" && /^[\w@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The last `maxChars` of a text, for error messages that quote a peer's stderr. */
export function tail(text: string, maxChars = 2000): string {
  const trimmed = text.trimEnd();
  return trimmed.length <= maxChars ? trimmed : `...${trimmed.slice(trimmed.length - maxChars)}`;
}
