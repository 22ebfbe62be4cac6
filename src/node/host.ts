/**
 * The session driver on Node's host, for code that drives one directly (the target's tests, the
 * CLI's discovery helpers): `new SessionHost(config, portal)` is `new SessionDriver(nodeHost(), ...)`.
 */
import type { SessionConfig, SessionDeps } from "../core/session/session.js";
import { type HostOptions, SessionDriver } from "../client/driver.js";
import type { Portal } from "../client/host.js";
import { nodeSessionDeps } from "./deps.js";
import { nodeHost } from "./transport.js";

export class SessionHost extends SessionDriver {
  constructor(config: SessionConfig, portal: Portal, options: HostOptions = {}, deps: SessionDeps = nodeSessionDeps()) {
    super(nodeHost(deps), config, portal, options);
  }
}

export { formatPortal, type HostOptions } from "../client/driver.js";
export type { Portal } from "../client/host.js";
