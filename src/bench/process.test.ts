import { describe, expect, it } from "vitest";
import { childEnv, describeExit, listeningAddressesOf, withSbin } from "./process.js";

describe("listeningAddressesOf", () => {
  // `ss -H -l -t -n -p` as root, one tgtd (pid 4242) and another process.
  const SS = [
    'LISTEN 0      4096       127.0.0.1:40000      0.0.0.0:*    users:(("tgtd",pid=4242,fd=7))',
    'LISTEN 0      4096         0.0.0.0:3260       0.0.0.0:*    users:(("tgtd",pid=4242,fd=8))',
    'LISTEN 0      511        127.0.0.1:8080       0.0.0.0:*    users:(("node",pid=42420,fd=20))',
    'LISTEN 0      4096           [::1]:3261          [::]:*    users:(("other",pid=1,fd=3))',
  ].join("\n");

  it("gives every local address of that process and no other's", () => {
    expect(listeningAddressesOf(SS, 4242)).toEqual(["127.0.0.1:40000", "0.0.0.0:3260"]);
    expect(listeningAddressesOf(SS, 1)).toEqual(["[::1]:3261"]);
    expect(listeningAddressesOf(SS, 7)).toEqual([]);
  });
});

describe("a child's environment", () => {
  it("puts sbin on PATH once, after what is there", () => {
    expect(withSbin("/usr/bin:/usr/sbin").split(":")).toEqual(["/usr/bin", "/usr/sbin", "/usr/local/sbin", "/sbin"]);
    expect(withSbin(undefined).split(":")).toEqual(["/usr/local/sbin", "/usr/sbin", "/sbin"]);
  });

  it("sets and removes variables over ours", () => {
    const env = childEnv({ ISCSI_TS_TEST_SET: "1", PATH: "/only", HOME: undefined });
    expect(env["ISCSI_TS_TEST_SET"]).toBe("1");
    expect(env["PATH"]).toBe("/only");
    expect("HOME" in env).toBe(false);
  });
});

describe("describeExit", () => {
  it("names the signal that killed a process, else its exit code", () => {
    expect(describeExit({ code: null, signal: "SIGKILL" })).toBe("was killed by SIGKILL");
    expect(describeExit({ code: 3, signal: null })).toBe("exited with code 3");
  });
});
