#!/usr/bin/env node
/**
 * The fault proxy as a command: put it between any initiator and target, then type faults.
 *
 *     node dist/faults/proxy-cli.js --target 127.0.0.1:3261 [--listen 127.0.0.1:3270]
 *         [--seed N] [--digests auto|none|header|data|both] [--control-port N] [--quiet]
 *
 * It prints "listening on HOST:PORT", then reads commands (see commands.ts, or type "help") from
 * standard input and, with --control-port, from TCP connections to 127.0.0.1:N (one command a
 * line, one answer a line; the answer to a multi-line command ends with an empty line).
 */
import * as net from "node:net";
import { createInterface } from "node:readline";
import { IscsiError } from "../core/errors.js";
import { applyCommand, parseCommand } from "./commands.js";
import { type CliOptions, parseArgs, USAGE } from "./proxy-args.js";
import { FaultProxy } from "./proxy.js";

/** Answers one line; returns false when the line asked to quit. */
function answer(proxy: FaultProxy, line: string, write: (text: string) => void): boolean {
  try {
    const command = parseCommand(line);
    if (command === undefined) return true;
    const text = applyCommand(proxy, command);
    write(text.includes("\n") ? `${text}\n\n` : `${text}\n`);
    return command.kind !== "quit";
  } catch (error) {
    write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return true;
  }
}

async function main(argv: readonly string[]): Promise<number> {
  let options: CliOptions | "help";
  try {
    options = parseArgs(argv);
  } catch (error) {
    process.stderr.write(`${error instanceof IscsiError ? error.message : String(error)}\n\n${USAGE}\n`);
    return 2;
  }
  if (options === "help") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const log = options.quiet ? undefined : (line: string): void => void process.stderr.write(`${line}\n`);
  const proxy = await FaultProxy.start({ ...options.proxy, ...(log === undefined ? {} : { log }) });
  process.stdout.write(`listening on ${proxy.portal}, forwarding to ${options.proxy.target.host}:${options.proxy.target.port}\n`);

  let control: net.Server | undefined;
  const done = new Promise<void>((resolve) => {
    const stdin = createInterface({ input: process.stdin, terminal: false });
    stdin.on("line", (line) => {
      if (!answer(proxy, line, (text) => process.stdout.write(text))) resolve();
    });
    // Without a control port, the end of standard input ends the proxy; with one, it runs on.
    stdin.on("close", () => {
      if (control === undefined) resolve();
    });
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolve());
  });
  if (options.controlPort !== undefined) {
    control = net.createServer((socket) => {
      socket.on("error", () => undefined);
      const lines = createInterface({ input: socket, terminal: false });
      lines.on("line", (line) => {
        if (!answer(proxy, line, (text) => socket.write(text))) socket.end();
      });
    });
    const server = control;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: "127.0.0.1", port: options.controlPort }, () => resolve());
    });
    const address = server.address();
    process.stdout.write(`control on 127.0.0.1:${typeof address === "object" && address !== null ? address.port : options.controlPort}\n`);
  }
  await done;
  const stats = proxy.stats;
  await proxy.close();
  control?.close();
  process.stdout.write(`${JSON.stringify(stats)}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`iscsi-fault-proxy: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
