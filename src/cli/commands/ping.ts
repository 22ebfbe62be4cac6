/**
 * `ping`: NOP-Out round trips on a logged-in session (RFC 7143 §11.18: a NOP-Out with a valid
 * Initiator Task Tag asks the target for a NOP-In echo), reported like ping(8).
 */
import { Command } from "commander";
import { TimeoutError } from "../../core/index.js";
import { formatPortal } from "../../node/index.js";
import { sleep, untilAborted, withDeadline } from "../interrupt.js";
import { parseCount, parseDuration } from "../units.js";
import { examples, type Runner } from "./command.js";

interface PingOptions {
  readonly count: string;
  readonly interval: string;
}

export interface PingStats {
  readonly sent: number;
  readonly received: number;
  readonly lossPercent: number;
  readonly minMs: number;
  readonly avgMs: number;
  readonly maxMs: number;
  /** ping(8)'s mdev: the standard deviation of the round trips. */
  readonly mdevMs: number;
}

export function pingStats(sent: number, rtts: readonly number[]): PingStats {
  const n = rtts.length;
  const avg = n === 0 ? 0 : rtts.reduce((a, b) => a + b, 0) / n;
  const variance = n === 0 ? 0 : rtts.reduce((a, b) => a + (b - avg) ** 2, 0) / n;
  return {
    sent,
    received: n,
    lossPercent: sent === 0 ? 0 : ((sent - n) / sent) * 100,
    minMs: n === 0 ? 0 : Math.min(...rtts),
    avgMs: avg,
    maxMs: n === 0 ? 0 : Math.max(...rtts),
    mdevMs: Math.sqrt(variance),
  };
}

export function formatPingSummary(name: string, s: PingStats, totalMs: number): string {
  const ms = (v: number): string => v.toFixed(3);
  const lines = [
    `--- ${name} ping statistics ---`,
    `${s.sent} NOP-Outs sent, ${s.received} NOP-Ins received, ${Number(s.lossPercent.toFixed(1))}% loss, time ${Math.round(totalMs)}ms`,
  ];
  if (s.received > 0) lines.push(`rtt min/avg/max/mdev = ${ms(s.minMs)}/${ms(s.avgMs)}/${ms(s.maxMs)}/${ms(s.mdevMs)} ms`);
  return lines.join("\n");
}

export function pingCommand(run: Runner): Command {
  return new Command("ping")
    .summary("NOP-Out round trips to a target, like ping(8)")
    .description("Logs in and sends --count NOP-Outs, --interval apart, printing each round trip and then min/avg/max/mdev. --count 0 pings until interrupted (Ctrl-C then prints the summary). A NOP-In not back within --timeout counts as lost.")
    .argument("<target-url>", "iscsi://[user[%secret]@]host[:port]/target-iqn")
    .option("-c, --count <n>", "how many (0: until interrupted)", "4")
    .option("-i, --interval <duration>", "time between pings", "1s")
    .addHelpText(
      "after",
      examples(["iscsi ping iscsi://127.0.0.1/iqn.2026-11.example:disk", "iscsi ping iscsi://127.0.0.1/iqn.2026-11.example:disk --count 10 --interval 200ms --json"]),
    )
    .action(async (url: string, opts: PingOptions, cmd: Command) =>
      run(cmd, async (ctx) => {
        const count = parseCount(opts.count, "--count");
        const intervalMs = parseDuration(opts.interval, "--interval");
        const ref = ctx.targetRef(url, false);
        // NOP-Outs ask the session, not a LUN: a LUN URL is taken (scripts reuse them), and said to be ignored.
        if (ref.url.lun !== undefined) ctx.out.note(`note: ping sends NOP-Outs to the target, not to a LUN; the /${ref.url.lun} in the URL is ignored`);
        const where = formatPortal(ref.portal);
        await ctx.withSession(
          ref,
          async (session) => {
            ctx.out.line(`PING ${ref.targetName} at ${where}: NOP-Out`);
            const rtts: number[] = [];
            const replies: { seq: number; timeMs: number | null }[] = [];
            const started = performance.now();
            let sent = 0;
            let interrupted = false;
            for (let seq = 1; count === 0 || seq <= count; seq++) {
              if (seq > 1) {
                try {
                  await sleep(intervalMs, ctx.signal);
                } catch {
                  interrupted = true;
                  break;
                }
              }
              sent++;
              try {
                const rtt = await untilAborted(withDeadline(session.ping(), ctx.timeoutMs, `NOP-Out ${seq} to ${where}`), ctx.signal);
                rtts.push(rtt);
                replies.push({ seq, timeMs: rtt });
                ctx.out.line(`NOP-In from ${where}: seq=${seq} time=${rtt.toFixed(3)} ms`);
              } catch (error) {
                if (ctx.signal.aborted) {
                  sent--;
                  interrupted = true;
                  break;
                }
                // A lost reply is counted and reported; a dead session ends the run.
                if (!(error instanceof TimeoutError)) throw error;
                replies.push({ seq, timeMs: null });
                ctx.out.line(`no NOP-In for seq=${seq} within ${ctx.timeoutMs} ms`);
              }
            }
            const totalMs = performance.now() - started;
            const stats = pingStats(sent, rtts);
            ctx.out.result({ target: ref.targetName, portal: where, ...stats, replies, interrupted }, () => `\n${formatPingSummary(ref.targetName, stats, totalMs)}`);
            // Ctrl-C is how an endless ping ends: with replies, that is success, as for ping(8).
            if (interrupted && (count !== 0 || stats.received === 0)) throw ctx.signal.reason;
          },
          { keepAlive: false },
        );
      }),
    );
}
