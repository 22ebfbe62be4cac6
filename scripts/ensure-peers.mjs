#!/usr/bin/env node
// Makes sure the real peers that the interop tests run against are installed: tgtd, istgt, libiscsi's
// tools, QEMU's iSCSI driver, tshark, the NBD tools, fio, iSNS. It runs before anything is built
// (plain Node, no dependencies). For each peer it prints where it was found; whatever is missing
// it installs with apt-get when running as root, or, when not root, prints the exact command to
// run and exits 1. It never skips a peer silently.
//
//   node scripts/ensure-peers.mjs                  check, install what is missing (as root)
//   node scripts/ensure-peers.mjs --check          check only; exit 1 if anything is missing
//   node scripts/ensure-peers.mjs --print-packages the Debian packages, one line (for .ci/run)
//
// ENSURE_PEERS_PRETEND_MISSING=fio,tshark treats those peers as missing in the first check, to
// exercise the install path on a machine that has them (testing only).

import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, readdirSync } from "node:fs";
import { delimiter, join } from "node:path";

/**
 * The one list: every peer the tests use, and the Debian package that brings it. .ci/run
 * installs exactly these packages (through --print-packages).
 */
const PEERS = [
  { name: "tgtd", pkg: "tgt" },
  { name: "tgtadm", pkg: "tgt" },
  // A second target for interop: istgt answers on each MC/S connection from threads of its own.
  { name: "istgt", pkg: "istgt" },
  { name: "iscsi-ls", pkg: "libiscsi-bin" },
  { name: "iscsi-inq", pkg: "libiscsi-bin" },
  { name: "iscsi-readcapacity16", pkg: "libiscsi-bin" },
  { name: "iscsi-perf", pkg: "libiscsi-bin" },
  { name: "iscsi-test-cu", pkg: "libiscsi-bin" },
  { name: "qemu-img", pkg: "qemu-utils" },
  { name: "qemu-iscsi-driver", pkg: "qemu-block-extra", find: findQemuIscsiDriver },
  { name: "tshark", pkg: "tshark" },
  { name: "dumpcap", pkg: "wireshark-common" },
  { name: "nbdinfo", pkg: "libnbd-bin" },
  { name: "nbdcopy", pkg: "libnbd-bin" },
  { name: "fio", pkg: "fio" },
  { name: "isnsd", pkg: "open-isns-server" },
  { name: "isnsadm", pkg: "open-isns-utils" },
  // Used by the harness itself: `ss` to see what tgtd listens on, `setpriv` to tie children's
  // lives to the test process.
  { name: "ss", pkg: "iproute2" },
  { name: "setpriv", pkg: "util-linux" },
  // The browser host's test: headless Chromium driven by playwright-core (never a browser download).
  { name: "chromium", pkg: "chromium" },
];

const PACKAGES = [...new Set(PEERS.map((p) => p.pkg))];

/** tshark's package asks whether non-root users may capture; the tests run as root, so no. */
const DEBCONF_PRESEED = "wireshark-common wireshark-common/install-setuid boolean false\n";

const log = (line) => console.log(`ensure-peers: ${line}`);

function which(command) {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  // sbin is not on every user's PATH (tgtd, tgtadm, isnsd live there).
  for (const dir of ["/usr/local/sbin", "/usr/sbin", "/sbin"]) {
    const candidate = join(dir, command);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/**
 * QEMU's iSCSI driver is a loadable module (Debian's qemu-block-extra). `qemu-img --help` lists
 * "iscsi" among its formats even when the module is not installed, so look for the module file;
 * a QEMU without a module directory has its drivers built in, and then the formats list decides.
 */
function findQemuIscsiDriver() {
  if (which("qemu-img") === undefined) return undefined;
  const moduleDirs = ["/usr/lib/qemu", "/usr/lib64/qemu", "/usr/local/lib/qemu"];
  try {
    for (const entry of readdirSync("/usr/lib")) moduleDirs.push(join("/usr/lib", entry, "qemu"));
  } catch {
    // no /usr/lib: nothing to add
  }
  const existing = moduleDirs.filter((dir) => existsSync(dir));
  for (const dir of existing) {
    const module = join(dir, "block-iscsi.so");
    if (existsSync(module)) return module;
  }
  if (existing.length > 0) return undefined;
  const help = spawnSync("qemu-img", ["--help"], { encoding: "utf8" });
  const formats = /Supported formats:(.*)/.exec(help.stdout ?? "")?.[1]?.trim().split(/\s+/) ?? [];
  return formats.includes("iscsi") ? "built into qemu-img" : undefined;
}

function findPeer(peer) {
  return peer.find !== undefined ? peer.find() : which(peer.name);
}

/** Returns the peers not found, printing one line per peer. */
function check(pretendMissing) {
  const missing = [];
  for (const peer of PEERS) {
    const where = pretendMissing.has(peer.name) ? undefined : findPeer(peer);
    if (where === undefined) {
      const why = pretendMissing.has(peer.name) ? " (pretending, ENSURE_PEERS_PRETEND_MISSING)" : "";
      log(`MISSING ${peer.name} (Debian package ${peer.pkg})${why}`);
      missing.push(peer);
    } else {
      log(`found ${peer.name}: ${where}`);
    }
  }
  return missing;
}

function run(command, args, input) {
  log(`running: ${[command, ...args].join(" ")}`);
  const result = spawnSync(command, args, {
    // Stream apt's output as it comes; only the preseed goes in through stdin.
    stdio: [input === undefined ? "ignore" : "pipe", "inherit", "inherit"],
    input,
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  if (result.error !== undefined) {
    log(`FAILED to run ${command}: ${result.error.message}`);
    process.exit(1);
  }
  if (result.status !== 0) {
    log(`FAILED: ${command} ${args.join(" ")} exited with ${result.status ?? result.signal}`);
    process.exit(1);
  }
}

function installCommand(packages) {
  return `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${packages.join(" ")}`;
}

function main(argv) {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log("usage: node scripts/ensure-peers.mjs [--check | --print-packages]");
    return 0;
  }
  if (argv.includes("--print-packages")) {
    console.log(PACKAGES.join(" "));
    return 0;
  }
  const unknown = argv.filter((a) => a !== "--check");
  if (unknown.length > 0) {
    log(`unknown argument ${unknown[0]}; try --help`);
    return 2;
  }

  const pretend = new Set(
    (process.env.ENSURE_PEERS_PRETEND_MISSING ?? "").split(",").map((s) => s.trim()).filter((s) => s !== ""),
  );
  for (const name of pretend) {
    if (!PEERS.some((p) => p.name === name)) {
      log(`ENSURE_PEERS_PRETEND_MISSING names ${name}, which is not a peer (peers: ${PEERS.map((p) => p.name).join(", ")})`);
      return 2;
    }
  }

  const missing = check(pretend);
  if (missing.length === 0) {
    log(`all ${PEERS.length} peers found`);
    return 0;
  }
  const packages = [...new Set(missing.map((p) => p.pkg))];
  const names = missing.map((p) => p.name).join(", ");
  if (argv.includes("--check")) {
    log(`missing ${names}; install with: ${installCommand(packages)}`);
    return 1;
  }
  if (process.getuid?.() !== 0) {
    log(`missing ${names} and not root, so cannot install them; run: sudo sh -c '${installCommand(packages)}'`);
    return 1;
  }
  if (which("apt-get") === undefined) {
    log(`missing ${names}, and there is no apt-get to install Debian packages ${packages.join(" ")} with`);
    return 1;
  }

  log(`installing ${packages.join(" ")} for ${names}`);
  if (packages.some((p) => p === "tshark" || p === "wireshark-common") && which("debconf-set-selections") !== undefined) {
    run("debconf-set-selections", [], DEBCONF_PRESEED);
  }
  run("apt-get", ["update"]);
  run("apt-get", ["install", "-y", ...packages]);

  // The pretence applied to the first check only: now the real state decides.
  const still = check(new Set());
  if (still.length > 0) {
    log(`still missing after installing: ${still.map((p) => `${p.name} (${p.pkg})`).join(", ")}`);
    return 1;
  }
  log(`all ${PEERS.length} peers found`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
