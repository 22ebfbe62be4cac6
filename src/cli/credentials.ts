/**
 * Where the CLI finds CHAP credentials, and how it keeps them out of sight.
 *
 * Sources, first found wins, for each of the four values (user, secret, target user, target
 * secret):
 *   1. the URL, in libiscsi's form `iscsi://user%secret@host/...?target_user=u&target_password=p`
 *      (or RFC 3986's `user:secret@`);
 *   2. the command line, for names only (`--chap-user`, `--chap-target-user`) and for files
 *      holding a secret (`--chap-secret-file`, `--chap-target-secret-file`): a secret itself is
 *      never an option, because argv is world-readable in /proc;
 *   3. the environment: ISCSI_CHAP_USERNAME, ISCSI_CHAP_SECRET, ISCSI_CHAP_TARGET_USERNAME,
 *      ISCSI_CHAP_TARGET_SECRET, then libiscsi's LIBISCSI_CHAP_USERNAME, LIBISCSI_CHAP_PASSWORD,
 *      LIBISCSI_CHAP_TARGET_USERNAME, LIBISCSI_CHAP_TARGET_PASSWORD.
 * Every secret seen (used or not) is remembered so that any text the tool prints can be masked.
 */
import { AuthenticationError, ConfigError, Secret } from "../core/index.js";
import type { ChapOptions } from "../node/index.js";
import { fileSource } from "./copy/endpoints.js";
import type { Source } from "./copy/engine.js";
import { CliError, fileError } from "./errors.js";
import { untilAborted } from "./interrupt.js";

export interface CredentialOptions {
  readonly chapUser?: string | undefined;
  readonly chapSecretFile?: string | undefined;
  readonly chapTargetUser?: string | undefined;
  readonly chapTargetSecretFile?: string | undefined;
}

/** The credential parts of a parsed URL. */
export interface UrlCredentials {
  readonly username: string | undefined;
  readonly secret: string | undefined;
  readonly targetUsername: string | undefined;
  readonly targetSecret: string | undefined;
}

export type Environment = Readonly<Record<string, string | undefined>>;

export const ENV = {
  user: ["ISCSI_CHAP_USERNAME", "LIBISCSI_CHAP_USERNAME"],
  secret: ["ISCSI_CHAP_SECRET", "LIBISCSI_CHAP_PASSWORD"],
  targetUser: ["ISCSI_CHAP_TARGET_USERNAME", "LIBISCSI_CHAP_TARGET_USERNAME"],
  targetSecret: ["ISCSI_CHAP_TARGET_SECRET", "LIBISCSI_CHAP_TARGET_PASSWORD"],
} as const;

/** Every secret value present in the environment, whether or not it is used. */
export function environmentSecrets(env: Environment): string[] {
  return [...ENV.secret, ...ENV.targetSecret, "ISCSI_TARGET_CHAP_SECRET", "ISCSI_TARGET_MUTUAL_SECRET"]
    .map((name) => env[name])
    .filter((v): v is string => v !== undefined && v !== "");
}

function fromEnv(env: Environment, names: readonly string[]): { value: string; source: string } | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value !== "") return { value, source: `$${name}` };
  }
  return undefined;
}

/**
 * A secret file's content: the whole file, less one trailing line break (as `echo secret > f`
 * leaves one). Refuses an empty file rather than send an empty secret.
 */
export function secretFromFileContent(content: string, path: string): string {
  const secret = content.replace(/\r?\n$/, "");
  if (secret === "") throw new ConfigError(`the secret file ${path} is empty`);
  if (/[\r\n]/.test(secret)) throw new ConfigError(`the secret file ${path} holds more than one line`);
  return secret;
}

/**
 * The most a secret file may hold, its line break aside. RFC 7143 §12.1.3 sets no length for a
 * CHAP secret (only its 96-bit minimum advice), but CHAP values are bounded at 1024 bytes there
 * (CHAP_C), and a real secret is tens of bytes: reading more would only let `/dev/zero` or a
 * runaway pipe eat memory.
 */
export const MAX_SECRET_FILE_BYTES = 1024;

/**
 * Reads a secret file without ever blocking: a FIFO (or `<(pass show x)`) is opened without
 * waiting for its writer and read as it comes, so SIGINT still ends the tool; at most
 * MAX_SECRET_FILE_BYTES (and a CRLF) are read, so `/dev/zero` is refused at once.
 */
export async function readSecretFile(path: string, signal: AbortSignal): Promise<string> {
  let source: Source;
  try {
    source = await fileSource(path, signal);
  } catch (error) {
    throw fileError(error instanceof CliError && error.cause !== undefined ? error.cause : error, path, "read the secret file");
  }
  try {
    const limit = MAX_SECRET_FILE_BYTES + 2;
    const buffer = new Uint8Array(limit + 1);
    let got: number;
    try {
      got = await untilAborted(source.read(0, buffer), signal);
    } catch (error) {
      throw error instanceof CliError ? error : fileError(error, path, "read the secret file");
    }
    const text = new TextDecoder().decode(buffer.subarray(0, got));
    const secret = text.replace(/\r?\n$/, "");
    if (got > limit || new TextEncoder().encode(secret).length > MAX_SECRET_FILE_BYTES) {
      throw new ConfigError(`the secret file ${path} is longer than ${MAX_SECRET_FILE_BYTES} bytes (a CHAP secret is one line, tens of bytes)`);
    }
    return text;
  } finally {
    await source.close().catch(() => undefined);
  }
}

export interface ResolvedCredentials {
  readonly chap: ChapOptions | undefined;
  /** Where each value came from, for -v ("user from the URL, secret from $ISCSI_CHAP_SECRET"). */
  readonly sources: string | undefined;
}

/**
 * Puts the credentials together. `readSecretFile` reads a file's text (a CliError when it cannot),
 * only when no earlier source gave that secret.
 * A user without a secret is an AuthenticationError (the login cannot succeed: exit status 2);
 * a secret without a user, or a target secret without the initiator's, is a ConfigError.
 */
export async function resolveCredentials(
  url: UrlCredentials | undefined,
  options: CredentialOptions,
  env: Environment,
  readSecretFile: (path: string) => Promise<string>,
  remember: (secret: string) => void,
): Promise<ResolvedCredentials> {
  const pick = async (
    fromUrl: string | undefined,
    option: string | undefined,
    optionName: string,
    file: string | undefined,
    fileOption: string,
    envNames: readonly string[],
  ): Promise<{ value: string; source: string } | undefined> => {
    if (fromUrl !== undefined && fromUrl !== "") return { value: fromUrl, source: "the URL" };
    if (option !== undefined && option !== "") return { value: option, source: optionName };
    if (file !== undefined) {
      const value = secretFromFileContent(await readSecretFile(file), file);
      remember(value);
      return { value, source: `${fileOption} ${file}` };
    }
    return fromEnv(env, envNames);
  };

  const user = await pick(url?.username, options.chapUser, "--chap-user", undefined, "", ENV.user);
  const secret = await pick(url?.secret, undefined, "", options.chapSecretFile, "--chap-secret-file", ENV.secret);
  const targetUser = await pick(url?.targetUsername, options.chapTargetUser, "--chap-target-user", undefined, "", ENV.targetUser);
  const targetSecret = await pick(url?.targetSecret, undefined, "", options.chapTargetSecretFile, "--chap-target-secret-file", ENV.targetSecret);
  for (const s of [secret, targetSecret]) if (s !== undefined) remember(s.value);

  if (user === undefined) {
    // A secret given on purpose (a file) with nobody to use it is a mistake worth saying; one
    // merely present in the environment is not, as libiscsi's tools ignore it too.
    if (secret !== undefined && secret.source.startsWith("--")) {
      throw new ConfigError(`${secret.source} gives a CHAP secret but no user name (write user@ in the URL, or use --chap-user or $ISCSI_CHAP_USERNAME)`);
    }
    if (targetUser !== undefined || (targetSecret !== undefined && targetSecret.source.startsWith("--"))) {
      throw new ConfigError("mutual CHAP needs the initiator's CHAP user and secret too");
    }
    return { chap: undefined, sources: undefined };
  }
  if (secret === undefined) {
    throw new AuthenticationError(
      `CHAP user "${user.value}" (from ${user.source}) has no secret: give it in $ISCSI_CHAP_SECRET, with --chap-secret-file FILE, or in the URL as user%secret@ or user:secret@`,
    );
  }
  if ((targetUser === undefined) !== (targetSecret === undefined)) {
    throw targetUser === undefined
      ? new ConfigError(`a mutual CHAP secret (from ${targetSecret?.source ?? "?"}) was given without the target's user name (--chap-target-user or $ISCSI_CHAP_TARGET_USERNAME)`)
      : new AuthenticationError(
          `mutual CHAP user "${targetUser.value}" (from ${targetUser.source}) has no secret: give it in $ISCSI_CHAP_TARGET_SECRET or with --chap-target-secret-file FILE`,
        );
  }
  const chap: ChapOptions = {
    username: user.value,
    secret: Secret.fromString(secret.value),
    ...(targetUser === undefined || targetSecret === undefined
      ? {}
      : { targetUsername: targetUser.value, targetSecret: Secret.fromString(targetSecret.value) }),
  };
  const sources = [`CHAP user from ${user.source}`, `secret from ${secret.source}`];
  if (targetUser !== undefined && targetSecret !== undefined) sources.push(`target user from ${targetUser.source}`, `target secret from ${targetSecret.source}`);
  return { chap, sources: sources.join(", ") };
}

export { hideSecretsFromProcessTitle, secretsInArguments } from "./argv-secrets.js";
