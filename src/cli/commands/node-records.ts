/**
 * What the node commands and `iscsi up` share: the store from the environment, a record from a
 * URL and the global CHAP options (its secrets put in the store, never in the record), and the
 * session options of a record (its secrets read back from the store).
 */
import { Secret, ConfigError, parseIscsiUrl } from "../../core/index.js";
import type { SessionOptions } from "../../node/index.js";
import { type NodeRecord, recordUrl } from "../../node/records/record.js";
import { NodeStore } from "../../node/records/store.js";
import type { CliContext } from "../context.js";
import { readSecretFile, resolveCredentials } from "../credentials.js";

export function storeOf(ctx: CliContext): NodeStore {
  return NodeStore.fromEnvironment(ctx.env);
}

function plain(secret: string | Secret): string {
  return typeof secret === "string" ? secret : new TextDecoder().decode(secret.reveal());
}

export interface Credentials {
  readonly user: string | undefined;
  readonly secret: string | undefined;
  readonly targetUser: string | undefined;
  readonly targetSecret: string | undefined;
}

/** The CHAP credentials given for a new record: the URL, --chap-user/--chap-secret-file, the environment. */
export async function credentialsFor(ctx: CliContext, urlText: string | undefined): Promise<Credentials> {
  const url = urlText === undefined ? undefined : parseIscsiUrl(urlText);
  const resolved = await resolveCredentials(
    url,
    ctx.options,
    ctx.env,
    (path) => readSecretFile(path, ctx.signal),
    (secret) => ctx.out.addSecrets([secret]),
  );
  const chap = resolved.chap;
  return {
    user: chap?.username,
    secret: chap === undefined ? undefined : plain(chap.secret),
    targetUser: chap?.targetUsername,
    targetSecret: chap?.targetSecret === undefined ? undefined : plain(chap.targetSecret),
  };
}

/** Saves `record` with its secrets: the secrets first, so a record never names a secret that is not there. */
export function saveWithSecrets(store: NodeStore, record: NodeRecord, credentials: Credentials, replace: boolean): string {
  store.setSecret(record.name, "chap-secret", credentials.secret);
  store.setSecret(record.name, "chap-target-secret", credentials.targetSecret);
  return store.save(record, { replace });
}

/** Session options for a record, with the secrets from the store and the global options (timeouts, -v). */
export async function recordSessionOptions(ctx: CliContext, store: NodeStore, record: NodeRecord): Promise<SessionOptions> {
  const ref = ctx.targetRef(recordUrl(record), false);
  let chap: SessionOptions["chap"];
  if (record.chapUser !== undefined) {
    const secret = store.readSecret(record.name, "chap-secret");
    if (secret === undefined) throw new ConfigError(`node "${record.name}" names the CHAP user "${record.chapUser}" but ${store.secretFile(record.name, "chap-secret")} holds no secret`);
    ctx.out.addSecrets([secret]);
    const targetSecret = record.chapTargetUser === undefined ? undefined : store.readSecret(record.name, "chap-target-secret");
    if (record.chapTargetUser !== undefined && targetSecret === undefined) {
      throw new ConfigError(`node "${record.name}" names the mutual CHAP user "${record.chapTargetUser}" but ${store.secretFile(record.name, "chap-target-secret")} holds no secret`);
    }
    if (targetSecret !== undefined) ctx.out.addSecrets([targetSecret]);
    chap = {
      username: record.chapUser,
      secret: Secret.fromString(secret),
      ...(record.chapTargetUser === undefined || targetSecret === undefined ? {} : { targetUsername: record.chapTargetUser, targetSecret: Secret.fromString(targetSecret) }),
    };
  }
  return ctx.sessionOptions(ref, {
    ...(chap === undefined ? {} : { chap }),
    ...(record.headerDigest === undefined ? {} : { headerDigest: record.headerDigest }),
    ...(record.dataDigest === undefined ? {} : { dataDigest: record.dataDigest }),
  });
}
