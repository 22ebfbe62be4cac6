/**
 * Where iscsi-ts keeps what it remembers (node records, secrets, the generated initiator name)
 * and where a running `iscsi up` puts its control socket. XDG Base Directory rules, each with an
 * override so tests and packagers can point them elsewhere.
 */
import { homedir } from "node:os";
import { join } from "node:path";

export type Environment = Readonly<Record<string, string | undefined>>;

/** $ISCSI_TS_CONFIG_DIR, else $XDG_CONFIG_HOME/iscsi-ts, else ~/.config/iscsi-ts. */
export function configDir(env: Environment): string {
  const override = env["ISCSI_TS_CONFIG_DIR"];
  if (override !== undefined && override !== "") return override;
  // XDG: a relative XDG_CONFIG_HOME is invalid and is to be ignored.
  const xdg = env["XDG_CONFIG_HOME"];
  if (xdg !== undefined && xdg.startsWith("/")) return join(xdg, "iscsi-ts");
  return join(env["HOME"] !== undefined && env["HOME"] !== "" ? env["HOME"] : homedir(), ".config", "iscsi-ts");
}

/**
 * $ISCSI_TS_RUNTIME_DIR, else $XDG_RUNTIME_DIR/iscsi-ts (per user, tmpfs, mode 0700 by the
 * spec), else the config directory: the home of sockets.
 */
export function runtimeDir(env: Environment): string {
  const override = env["ISCSI_TS_RUNTIME_DIR"];
  if (override !== undefined && override !== "") return override;
  const xdg = env["XDG_RUNTIME_DIR"];
  if (xdg !== undefined && xdg.startsWith("/")) return join(xdg, "iscsi-ts");
  return configDir(env);
}

/** The control socket of `iscsi up`. */
export function controlSocketPath(env: Environment): string {
  return join(runtimeDir(env), "control.sock");
}

/** open-iscsi's file, read when present; $ISCSI_TS_SYSTEM_INITIATORNAME points elsewhere (tests). */
export function systemInitiatorNameFile(env: Environment): string {
  const override = env["ISCSI_TS_SYSTEM_INITIATORNAME"];
  return override !== undefined && override !== "" ? override : "/etc/iscsi/initiatorname.iscsi";
}
