/**
 * `up`: the service. Logs in to every node with startup automatic and serves each one's LUN over
 * NBD, keeps them (logins retried with capped backoff while the network or the target is not
 * there; lost sessions re-established by the library, or logged in again if it gives up), answers
 * `iscsi status` and `iscsi node login/logout` on its control socket, re-reads the records on
 * SIGHUP without dropping unchanged sessions, and on SIGTERM/SIGINT stops cleanly within
 * --stop-timeout: no new I/O, what is in flight finished, SYNCHRONIZE CACHE, logout.
 */
import { Command } from "commander";
import { TimeoutError } from "../../core/index.js";
import { ensureDir } from "../../node/records/atomic.js";
import { controlSocketPath, runtimeDir } from "../../node/records/paths.js";
import { listenControl, type ControlRequest } from "../../service/control.js";
import { Service } from "../../service/service.js";
import { formatDuration, parseDuration } from "../units.js";
import { examples, type Runner } from "./command.js";
import { recordSessionOptions, storeOf } from "./node-records.js";

interface UpOptions {
  readonly stopTimeout: string;
  readonly maxBackoff: string;
}

export function upCommand(run: Runner): Command {
  return new Command("up")
    .summary("the service: log in to every automatic node and serve it over NBD until stopped")
    .description(
      "Logs in to every node whose record says startup automatic (`iscsi node add ... --startup automatic`) and serves each one's LUN over NBD (the record's --nbd address, else a Unix socket NAME.sock in $XDG_RUNTIME_DIR/iscsi-ts). A target that cannot be reached yet is tried again with a backoff that doubles up to --max-backoff, so the service can start before the network. `iscsi status` asks it what it holds, over a control socket only you can open. SIGHUP re-reads the records: new nodes start, removed ones stop, changed ones restart, the others keep their sessions. SIGTERM or SIGINT stops it: no new I/O, requests in flight finished, SYNCHRONIZE CACHE, logout, all within --stop-timeout; whatever could not be done in time is named, with exit status 4.",
    )
    .option("--stop-timeout <duration>", "on SIGTERM/SIGINT, the time for requests in flight, SYNCHRONIZE CACHE and logout", "10s")
    .option("--max-backoff <duration>", "the longest wait between two login attempts to a target not there yet", "30s")
    .addHelpText("after", examples(["iscsi node add iscsi://192.168.1.10/iqn.2026-11.example:disk/1 --startup automatic --nbd listen=127.0.0.1:10809", "iscsi up &", "iscsi status", "kill -HUP %1   # re-read the records", "kill %1       # clean stop"]))
    .action(async (opts: UpOptions, cmd: Command) =>
      run(cmd, async (ctx) => {
        const stopMs = parseDuration(opts.stopTimeout, "--stop-timeout");
        const maxBackoffMs = parseDuration(opts.maxBackoff, "--max-backoff");
        const store = storeOf(ctx);
        const initiator = ctx.initiator;
        const runtime = runtimeDir(ctx.env);
        ensureDir(runtime);
        const socketPath = controlSocketPath(ctx.env);
        const log = (line: string): void => ctx.out.trace(`up: ${line}`);
        const service = new Service(
          store,
          {
            sessionOptions: (record) => recordSessionOptions(ctx, store, record),
            runtimeDir: runtime,
            backoff: { initialMs: Math.min(500, maxBackoffMs), maxMs: maxBackoffMs },
            log,
          },
          { initiatorName: initiator.name, controlSocket: socketPath, stopDeadlineMs: stopMs },
        );
        // Reloads run one at a time, whoever asks (SIGHUP or the control socket).
        let reloading: Promise<unknown> = Promise.resolve();
        const reload = (): Promise<unknown> => {
          const next = reloading.then(() => service.reload());
          reloading = next.catch(() => undefined);
          return next;
        };
        const control = await listenControl(socketPath, async (request: ControlRequest) => {
          switch (request.op) {
            case "status":
              return service.status();
            case "reload":
              return reload();
            case "login":
              return service.login(request.name);
            case "logout":
              return service.logout(request.name, stopMs);
            default:
              throw new Error(`unknown control request ${JSON.stringify((request as { op: unknown }).op)}`);
          }
        });
        const onHup = (): void => {
          log("SIGHUP: re-reading the records");
          reload().then(
            (r) => {
              const report = r as Awaited<ReturnType<Service["reload"]>>;
              log(`records re-read: started ${report.started.join(", ") || "none"}; stopped ${report.stopped.join(", ") || "none"}; restarted ${report.restarted.join(", ") || "none"}; kept ${report.kept.join(", ") || "none"}`);
            },
            (error: unknown) => log(`re-reading the records failed: ${error instanceof Error ? error.message : String(error)}`),
          );
        };
        process.on("SIGHUP", onHup);
        try {
          const first = await service.reload();
          ctx.out.result(
            { pid: process.pid, initiatorName: initiator.name, initiatorNameFrom: initiator.where, configDir: store.dir, controlSocket: socketPath, nodes: first.started, damaged: first.damaged },
            () =>
              [
                `iscsi up: initiator ${initiator.name}; ${first.started.length} automatic node(s): ${first.started.join(", ") || "none (iscsi node add ... --startup automatic, then SIGHUP)"}`,
                `  control socket ${socketPath}; \`iscsi status\` shows the sessions`,
                ...first.damaged.map((d) => `  damaged record skipped: ${d}`),
              ].join("\n"),
          );
          await ctx.out.flush();
          await new Promise<void>((resolve) => {
            if (ctx.signal.aborted) resolve();
            else ctx.signal.addEventListener("abort", () => resolve(), { once: true });
          });
          await reloading;
          const started = performance.now();
          log(`stopping: ${service.status().nodes.length} node(s), within ${formatDuration(stopMs)}`);
          const reports = await service.stop(stopMs);
          const problems = reports.flatMap((r) => r.problems.map((p) => `${r.name}: ${p}`));
          if (problems.length > 0) throw new TimeoutError(`stopping took more than ${opts.stopTimeout}: ${problems.join("; ")}`);
          log(`stopped in ${formatDuration(performance.now() - started)}: ${reports.map((r) => `${r.name} (${r.loggedOut ? "flushed, logged out" : "was not logged in"})`).join(", ") || "nothing was running"}`);
        } finally {
          process.off("SIGHUP", onHup);
          await new Promise<void>((resolve) => control.close(() => resolve()));
        }
      }),
    );
}
