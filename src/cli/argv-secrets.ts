/**
 * Secrets given in URLs on the command line, and the masking of them, with nothing else in the
 * module graph: the `iscsi` entry (main.ts) imports this alone, hides the secrets from the
 * process title, and only then loads the rest of the tool. ES module imports are all loaded
 * before a module's first line runs, so masking from a module that imports the whole CLI left
 * the secret readable in /proc/<pid>/cmdline (ps) for the ~0.4 s the loading takes.
 */
// The one CLI module that reaches past core/index.js: the index loads the whole core, which is
// what this module exists to run before.
// eslint-disable-next-line no-restricted-imports
import { looksLikeCredentials, splitUrlCredentials } from "../core/url.js";

/** The replacement for a secret found in text about to be printed. */
export const MASK = "***";

/** Replaces every occurrence of each secret (longest first, so none is left half-masked). */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].filter((s) => s.length > 0).sort((a, b) => b.length - a.length)) {
    out = out.split(secret).join(MASK);
  }
  return out;
}

/**
 * The secrets inside command-line arguments (URLs), for masking. The credentials are found by the
 * URL parser's own splitter (up to the last '@' before the query; user and secret split at '%' or,
 * RFC 3986's form, at ':'), so no tail of a secret containing '@' or '/' stays in view. Credentials
 * that lost their '@host' (`iscsi://u%secret/...`) are masked too, after their '%' or ':'.
 */
export function secretsInArguments(args: readonly string[]): string[] {
  const found: string[] = [];
  for (const arg of args) {
    const prefix = /^iscsi:\/\//i.exec(arg);
    if (prefix === null) continue;
    const all = arg.slice(prefix[0].length);
    const queryAt = all.indexOf("?");
    const parts = splitUrlCredentials(queryAt < 0 ? all : all.slice(0, queryAt));
    if (parts.secret !== undefined && parts.secret !== "") found.push(parts.secret);
    if (parts.userinfo === undefined) {
      const authority = parts.rest.split("/")[0] ?? "";
      if (looksLikeCredentials(authority)) {
        const split = authority.includes("%") ? authority.indexOf("%") : authority.indexOf(":");
        const tail = authority.slice(split + 1);
        if (tail !== "") found.push(tail);
      }
    }
    const targetPassword = /[?&]target_password=([^&]*)/i.exec(arg)?.[1];
    if (targetPassword !== undefined && targetPassword !== "") {
      found.push(targetPassword);
      try {
        found.push(decodeURIComponent(targetPassword));
      } catch {
        // A malformed escape: the raw text is masked, and the URL parser will refuse it.
      }
    }
  }
  return found;
}

/**
 * Replaces every URL secret in the process title. On Linux, assigning `process.title` rewrites
 * the memory that /proc/<pid>/cmdline (and so ps) reads, so a secret given on the command line is
 * visible only for the moment before this runs. Returns the secrets found (empty: title untouched).
 */
export function hideSecretsFromProcessTitle(argv: readonly string[], setTitle: (title: string) => void): string[] {
  const secrets = secretsInArguments(argv);
  if (secrets.length === 0) return secrets;
  setTitle(maskSecrets(argv.join(" "), secrets));
  return secrets;
}
