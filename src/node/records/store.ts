/**
 * The node records of one user: `<config>/nodes/<name>.conf`, one file each, and their CHAP
 * secrets in `<config>/secrets/<name>.chap-secret` and `.chap-target-secret` (mode 0600, in a
 * 0700 directory). A damaged record is reported with its file and line and does not stop the
 * others from being listed and used.
 */
import { closeSync, fstatSync, openSync, readFileSync, readdirSync, constants } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../../core/errors.js";
import { ensureDir, removeFileDurably, writeFileAtomic } from "./atomic.js";
import { checkNodeName, type NodeRecord, parseRecord, RecordError, serializeRecord } from "./record.js";
import { configDir, type Environment } from "./paths.js";

export type SecretKind = "chap-secret" | "chap-target-secret";

export type NodeEntry =
  | { readonly name: string; readonly file: string; readonly record: NodeRecord; readonly error?: undefined }
  | { readonly name: string; readonly file: string; readonly record?: undefined; readonly error: RecordError };

/** Longest secret accepted from a file, as the CLI's --chap-secret-file. */
const MAX_SECRET = 1024;

export class NodeStore {
  constructor(readonly dir: string) {}

  static fromEnvironment(env: Environment): NodeStore {
    return new NodeStore(configDir(env));
  }

  get nodesDir(): string {
    return join(this.dir, "nodes");
  }

  get secretsDir(): string {
    return join(this.dir, "secrets");
  }

  recordFile(name: string): string {
    return join(this.nodesDir, `${checkNodeName(name)}.conf`);
  }

  secretFile(name: string, kind: SecretKind): string {
    return join(this.secretsDir, `${checkNodeName(name)}.${kind}`);
  }

  /** Every record, sorted by name; a damaged one carries its error instead. */
  list(): NodeEntry[] {
    let names: string[];
    try {
      names = readdirSync(this.nodesDir).filter((f) => f.endsWith(".conf") && !f.startsWith("."));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw new ConfigError(`cannot read ${this.nodesDir}: ${(error as Error).message}`, { cause: error });
    }
    return names.sort().map((f) => {
      const name = f.slice(0, -".conf".length);
      const file = join(this.nodesDir, f);
      try {
        return { name, file, record: this.readRecord(name, file) };
      } catch (error) {
        if (error instanceof RecordError) return { name, file, error };
        throw error;
      }
    });
  }

  has(name: string): boolean {
    try {
      readFileSync(this.recordFile(name));
      return true;
    } catch {
      return false;
    }
  }

  /** The record named `name`; an unknown name or a damaged file is a ConfigError saying which. */
  get(name: string): NodeRecord {
    const file = this.recordFile(name);
    return this.readRecord(name, file);
  }

  private readRecord(name: string, file: string): NodeRecord {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") {
        throw new ConfigError(`no node named "${name}" (in ${this.nodesDir}; \`iscsi node list\` shows them)`);
      }
      throw new RecordError(file, undefined, `cannot be read: ${(error as Error).message}`);
    }
    if (checkNodeNameSafe(name) === undefined) throw new RecordError(file, undefined, "the file name is not a valid node name");
    return parseRecord(name, text, file);
  }

  /** Writes `record` (atomically); refuses to replace an existing one unless `replace`. */
  save(record: NodeRecord, options: { readonly replace?: boolean } = {}): string {
    const file = this.recordFile(record.name);
    if (options.replace !== true && this.has(record.name)) {
      throw new ConfigError(`a node named "${record.name}" exists already (${file}); give another --name, or remove it first`);
    }
    ensureDir(this.dir);
    ensureDir(this.nodesDir);
    writeFileAtomic(file, serializeRecord(record), 0o600);
    return file;
  }

  /** Sets (or with undefined, removes) one of a node's secrets: mode 0600, never in the record. */
  setSecret(name: string, kind: SecretKind, value: string | undefined): void {
    const file = this.secretFile(name, kind);
    if (value === undefined) {
      removeFileDurably(file);
      return;
    }
    if (value.length === 0 || Buffer.byteLength(value) > MAX_SECRET) throw new ConfigError(`a CHAP secret must hold 1 to ${MAX_SECRET} bytes`);
    ensureDir(this.dir);
    ensureDir(this.secretsDir);
    writeFileAtomic(file, `${value}\n`, 0o600);
  }

  hasSecret(name: string, kind: SecretKind): boolean {
    return this.readSecret(name, kind) !== undefined;
  }

  /**
   * A secret, or undefined when there is none. A secret file another user owns, or one that its
   * group or others may read, is refused (as ssh refuses such a key): it may have been seen.
   */
  readSecret(name: string, kind: SecretKind): string | undefined {
    const file = this.secretFile(name, kind);
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new ConfigError(`cannot read the secret file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
    }
    try {
      const st = fstatSync(fd);
      if (typeof process.getuid === "function" && st.uid !== process.getuid()) throw new ConfigError(`the secret file ${file} belongs to another user (uid ${st.uid}): refused`);
      if ((st.mode & 0o077) !== 0) throw new ConfigError(`the secret file ${file} may be read by others (mode ${(st.mode & 0o777).toString(8)}): refused; chmod 600 it`);
      if (st.size > MAX_SECRET + 2) throw new ConfigError(`the secret file ${file} is longer than ${MAX_SECRET} bytes`);
      const text = readFileSync(fd, "utf8").replace(/\r?\n$/, "");
      return text === "" ? undefined : text;
    } finally {
      closeSync(fd);
    }
  }

  /** Removes the record and its secrets; an unknown name is an error. */
  remove(name: string): void {
    const file = this.recordFile(name);
    if (!removeFileDurably(file)) throw new ConfigError(`no node named "${name}" (in ${this.nodesDir}; \`iscsi node list\` shows them)`);
    removeFileDurably(this.secretFile(name, "chap-secret"));
    removeFileDurably(this.secretFile(name, "chap-target-secret"));
  }
}

function checkNodeNameSafe(name: string): string | undefined {
  try {
    return checkNodeName(name);
  } catch {
    return undefined;
  }
}
