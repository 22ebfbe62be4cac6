import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Secret } from "../core/auth/secret.js";
import { AuthenticationError, ConfigError } from "../core/errors.js";
import {
  environmentSecrets,
  hideSecretsFromProcessTitle,
  MAX_SECRET_FILE_BYTES,
  readSecretFile,
  resolveCredentials,
  secretFromFileContent,
  secretsInArguments,
  type CredentialOptions,
  type Environment,
  type UrlCredentials,
} from "./credentials.js";

const NO_URL: UrlCredentials = { username: undefined, secret: undefined, targetUsername: undefined, targetSecret: undefined };

async function resolve(url: Partial<UrlCredentials>, options: CredentialOptions = {}, env: Environment = {}, files: Record<string, string> = {}) {
  const remembered: string[] = [];
  const result = await resolveCredentials(
    { ...NO_URL, ...url },
    options,
    env,
    async (path) => {
      const content = files[path];
      if (content === undefined) throw new ConfigError(`no file ${path}`);
      return content;
    },
    (s) => remembered.push(s),
  );
  return { ...result, remembered };
}

function reveal(secret: string | Secret | undefined): string | undefined {
  if (secret === undefined || typeof secret === "string") return secret;
  return new TextDecoder().decode(secret.reveal());
}

describe("resolveCredentials", () => {
  it("gives no CHAP when nothing names a user", async () => {
    expect((await resolve({})).chap).toBeUndefined();
  });

  it("takes user and secret from the URL before any other source", async () => {
    const r = await resolve({ username: "alice", secret: "from-url" }, { chapUser: "bob", chapSecretFile: "/s" }, { ISCSI_CHAP_SECRET: "from-env" }, { "/s": "from-file" });
    expect(r.chap?.username).toBe("alice");
    expect(reveal(r.chap?.secret)).toBe("from-url");
  });

  it("takes a secret file before the environment, without its trailing newline", async () => {
    const r = await resolve({ username: "alice" }, { chapSecretFile: "/s" }, { ISCSI_CHAP_SECRET: "from-env" }, { "/s": "from-file\n" });
    expect(reveal(r.chap?.secret)).toBe("from-file");
    expect(r.sources).toContain("--chap-secret-file /s");
    expect(r.remembered).toContain("from-file");
  });

  it("reads ISCSI_CHAP_* before libiscsi's LIBISCSI_CHAP_* names", async () => {
    const r = await resolve({}, {}, { ISCSI_CHAP_USERNAME: "ours", LIBISCSI_CHAP_USERNAME: "theirs", LIBISCSI_CHAP_PASSWORD: "pw-theirs" });
    expect(r.chap?.username).toBe("ours");
    expect(reveal(r.chap?.secret)).toBe("pw-theirs");
  });

  it("reads libiscsi's variables alone, mutual CHAP included", async () => {
    const r = await resolve(
      {},
      {},
      {
        LIBISCSI_CHAP_USERNAME: "u",
        LIBISCSI_CHAP_PASSWORD: "p",
        LIBISCSI_CHAP_TARGET_USERNAME: "tu",
        LIBISCSI_CHAP_TARGET_PASSWORD: "tp",
      },
    );
    expect(r.chap?.targetUsername).toBe("tu");
    expect(reveal(r.chap?.targetSecret)).toBe("tp");
    expect(r.remembered).toEqual(expect.arrayContaining(["p", "tp"]));
  });

  it("wraps secrets in Secret, so printing the options shows no secret", async () => {
    const r = await resolve({ username: "alice", secret: "hunter2" });
    expect(r.chap?.secret).toBeInstanceOf(Secret);
    expect(JSON.stringify(r.chap)).not.toContain("hunter2");
    expect(String(r.chap?.secret)).not.toContain("hunter2");
  });

  it("refuses a user without a secret as an authentication failure that names where to put it", async () => {
    let error: unknown;
    try {
      await resolve({ username: "alice" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as Error).message).toMatch(/CHAP user "alice" \(from the URL\) has no secret/);
    expect((error as Error).message).toMatch(/ISCSI_CHAP_SECRET/);
  });

  it("refuses a secret file given with nobody to use it", async () => {
    await expect(resolve({}, { chapSecretFile: "/s" }, {}, { "/s": "x" })).rejects.toThrow(/gives a CHAP secret but no user name/);
  });

  it("ignores a secret present only in the environment when no user is named", async () => {
    expect((await resolve({}, {}, { ISCSI_CHAP_SECRET: "stale" })).chap).toBeUndefined();
  });

  it("refuses half of a mutual CHAP pair", async () => {
    await expect(resolve({ username: "a", secret: "s", targetUsername: "t" })).rejects.toThrow(AuthenticationError);
    await expect(resolve({ username: "a", secret: "s" }, { chapTargetSecretFile: "/t" }, {}, { "/t": "x" })).rejects.toThrow(/without the target's user name/);
    await expect(resolve({ targetUsername: "t", targetSecret: "x" })).rejects.toThrow(/needs the initiator's CHAP user/);
  });

  it("never puts a secret in an error message", async () => {
    for (const attempt of [
      () => resolve({ username: "alice", secret: "s3cret", targetUsername: "t" }),
      () => resolve({ targetSecret: "s3cret", targetUsername: "t" }),
    ]) {
      await expect(attempt()).rejects.toThrow();
      try {
        await attempt();
      } catch (e) {
        expect((e as Error).message).not.toContain("s3cret");
      }
    }
  });
});

describe("secretFromFileContent", () => {
  it("strips one trailing newline, LF or CRLF", () => {
    expect(secretFromFileContent("abc\n", "f")).toBe("abc");
    expect(secretFromFileContent("abc\r\n", "f")).toBe("abc");
    expect(secretFromFileContent("abc", "f")).toBe("abc");
  });

  it("refuses an empty file and a file of several lines, naming the file", () => {
    expect(() => secretFromFileContent("\n", "/etc/s")).toThrow(/the secret file \/etc\/s is empty/);
    expect(() => secretFromFileContent("a\nb\n", "/etc/s")).toThrow(/more than one line/);
  });
});

describe("secretsInArguments and the process title", () => {
  it("finds the secret of a libiscsi URL and of target_password", () => {
    expect(secretsInArguments(["ping", "iscsi://alice%s3cret@host:3260/iqn.2026-11.x:y/1"])).toEqual(["s3cret"]);
    expect(secretsInArguments(["iscsi://a%b@h/iqn.2026-11.x:y/1?target_user=t&target_password=p%40ss"])).toEqual(["b", "p%40ss", "p@ss"]);
  });

  it("finds a secret that contains '@' whole, as the URL parser reads it", () => {
    expect(secretsInArguments(["iscsi://alice%p@ss@host/iqn.2026-11.x:y/1"])).toEqual(["p@ss"]);
  });

  it("finds the secret of RFC 3986's user:password@ form whole, and rewrites the title to user:***@", () => {
    expect(secretsInArguments(["iscsi://alice:p@ss/w@host/iqn.2026-11.x:y/1"])).toEqual(["p@ss/w"]);
    let title: string | undefined;
    expect(hideSecretsFromProcessTitle(["node", "iscsi", "ping", "iscsi://alice:s3cret@127.0.0.1/iqn.2026-11.x:y"], (t) => (title = t))).toEqual(["s3cret"]);
    expect(title).toBe("node iscsi ping iscsi://alice:***@127.0.0.1/iqn.2026-11.x:y");
  });

  it("finds the secret of credentials that lost their '@host', but takes no port for one", () => {
    expect(secretsInArguments(["iscsi://alice%s3cretvalue/iqn.2026-11.x:y/1", "iscsi://alice:s3cretvalue"])).toEqual(["s3cretvalue", "s3cretvalue"]);
    expect(secretsInArguments(["iscsi://host:3261/iqn.2026-11.x:y/1", "iscsi://[fe80::1%eth0]:3260"])).toEqual([]);
  });

  it("finds nothing in URLs without a secret and in other arguments", () => {
    expect(secretsInArguments(["iscsi://alice@host/iqn.2026-11.x:y/1", "--count", "3", "iscsi://host"])).toEqual([]);
  });

  it("rewrites the process title only when an argument holds a secret", () => {
    let title: string | undefined;
    const argv = ["node", "/usr/bin/iscsi", "ping", "iscsi://alice%s3cret@127.0.0.1/iqn.2026-11.x:y/1"];
    expect(hideSecretsFromProcessTitle(argv, (t) => (title = t))).toEqual(["s3cret"]);
    expect(title).toBe("node /usr/bin/iscsi ping iscsi://alice%***@127.0.0.1/iqn.2026-11.x:y/1");
    title = undefined;
    expect(hideSecretsFromProcessTitle(["node", "iscsi", "ls", "iscsi://host"], (t) => (title = t))).toEqual([]);
    expect(title).toBeUndefined();
  });

  it("lists every CHAP secret in the environment, ours and libiscsi's", () => {
    expect(environmentSecrets({ ISCSI_CHAP_SECRET: "a", LIBISCSI_CHAP_TARGET_PASSWORD: "b", ISCSI_CHAP_USERNAME: "user", ISCSI_TARGET_CHAP_SECRET: "c" }).sort()).toEqual([
      "a",
      "b",
      "c",
    ]);
  });
});

describe("readSecretFile", () => {
  const withDir = async (body: (dir: string) => Promise<void>): Promise<void> => {
    const dir = mkdtempSync(join(tmpdir(), "iscsi-cli-secret-"));
    try {
      await body(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it(`reads a file of up to ${MAX_SECRET_FILE_BYTES} bytes and its line break, and refuses a longer one naming the bound`, async () => {
    await withDir(async (dir) => {
      const fits = join(dir, "fits");
      writeFileSync(fits, `${"s".repeat(MAX_SECRET_FILE_BYTES)}\r\n`);
      expect(await readSecretFile(fits, new AbortController().signal)).toBe(`${"s".repeat(MAX_SECRET_FILE_BYTES)}\r\n`);
      const long = join(dir, "long");
      writeFileSync(long, "s".repeat(MAX_SECRET_FILE_BYTES + 1));
      await expect(readSecretFile(long, new AbortController().signal)).rejects.toThrow(`the secret file ${long} is longer than 1024 bytes`);
    });
  });

  it("refuses /dev/zero at once instead of reading without end", async () => {
    await expect(readSecretFile("/dev/zero", new AbortController().signal)).rejects.toMatchObject({
      code: "ISCSI_ERR_CONFIG",
      message: expect.stringMatching(/^the secret file \/dev\/zero is longer than 1024 bytes/),
    });
  });

  it("names a missing file as a secret file it cannot read", async () => {
    await withDir(async (dir) => {
      await expect(readSecretFile(join(dir, "none"), new AbortController().signal)).rejects.toMatchObject({
        code: "ISCSI_CLI_FILE",
        message: `cannot read the secret file ${join(dir, "none")}: no such file or directory`,
      });
    });
  });

  it("reads a FIFO as its writer sends, and gives up waiting for a writer when the signal aborts", async () => {
    await withDir(async (dir) => {
      const fifo = join(dir, "secret.fifo");
      execFileSync("mkfifo", [fifo]);
      const writer = (async () => {
        const handle = await open(fifo, "w");
        await handle.write("fifo-secret-1234\n");
        await handle.close();
      })();
      expect(await readSecretFile(fifo, new AbortController().signal)).toBe("fifo-secret-1234\n");
      await writer;

      const controller = new AbortController();
      const waiting = readSecretFile(fifo, controller.signal);
      setTimeout(() => controller.abort(new Error("interrupted by SIGINT")), 100);
      await expect(waiting).rejects.toThrow(/interrupted by SIGINT/);
    });
  });
});
