import { spawnSync } from "node:child_process";
import { statSync } from "node:fs";
import type * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError } from "../core/errors.js";
import { makeTempDirSync } from "../../test/support/tmp.js";
import { controlRequest, listenControl, NoServiceError, ServiceRefusal } from "./control.js";

describe("the control socket of iscsi up", () => {
  const servers: net.Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  });

  it("is a socket only its owner may open, in a directory only its owner may enter, answering one request per connection", async () => {
    const dir = makeTempDirSync();
    const path = dir.file("run/control.sock");
    servers.push(await listenControl(path, async (request) => ({ echoed: request.op })));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(dir.file("run")).mode & 0o777).toBe(0o700);
    expect(await controlRequest(path, { op: "status" })).toEqual({ echoed: "status" });
  });

  it("carries the service's refusals back with their message", async () => {
    const path = makeTempDirSync().file("control.sock");
    servers.push(
      await listenControl(path, async () => {
        throw new ConfigError('no node named "x"');
      }),
    );
    await expect(controlRequest(path, { op: "login", name: "x" })).rejects.toThrow(ServiceRefusal);
    await expect(controlRequest(path, { op: "login", name: "x" })).rejects.toThrow('no node named "x"');
  });

  it("says no service runs when there is no socket, or only one left by a service that died, and replaces the stale one", async () => {
    const dir = makeTempDirSync();
    const path = dir.file("control.sock");
    await expect(controlRequest(path, { op: "status" })).rejects.toThrow(NoServiceError);
    // A socket file nobody listens on, as a killed service leaves it (a clean close would unlink it).
    spawnSync(process.execPath, ["-e", `require("node:net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"))`]);
    expect(statSync(path).isSocket()).toBe(true);
    await expect(controlRequest(path, { op: "status" })).rejects.toThrow(/no `iscsi up` is running/);
    servers.push(await listenControl(path, async () => "fresh"));
    expect(await controlRequest(path, { op: "status" })).toBe("fresh");
  });

  it("refuses to start a second service on the same socket", async () => {
    const path = makeTempDirSync().file("control.sock");
    servers.push(await listenControl(path, async () => "first"));
    await expect(listenControl(path, async () => "second")).rejects.toThrow(/another `iscsi up` is running/);
    expect(await controlRequest(path, { op: "status" })).toBe("first");
  });
});
