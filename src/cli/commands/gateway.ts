/**
 * `gateway`: lets a web browser reach iSCSI targets. Browsers have no TCP sockets, so the page
 * (src/web) speaks iSCSI over a WebSocket and the gateway (src/gateway) relays its bytes to the
 * target, to the destinations listed with --allow only, for pages of its own origin (and any
 * --allow-origin) only. It serves the page too. The iSCSI session, CHAP included, runs in the
 * browser: the gateway sees only bytes and never a secret.
 */
import { Command } from "commander";
import { ConfigError } from "../../core/index.js";
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_WEB_ROOT, type Gateway, startGateway } from "../../gateway/index.js";
import { formatDestination } from "../../gateway/protocol.js";
import type { CliContext } from "../context.js";
import { formatBytes, formatDuration, parseCount } from "../units.js";
import { examples, type Runner } from "./command.js";
import { parseListen } from "./target.js";

interface GatewayCommandOptions {
  readonly listen: string;
  readonly allow?: readonly string[];
  readonly allowOrigin?: readonly string[];
  readonly maxConnections: string;
  readonly web?: string;
  readonly page: boolean;
}

export const DEFAULT_GATEWAY_PORT = 8260;

/** `HOST:PORT`, `:PORT`, `HOST` (port 8260), `[v6]:PORT`; port 0 picks a free one. */
export function parseGatewayListen(text: string): { readonly host: string; readonly port: number } {
  const hostOnly = /^[^:[\]]+$/.test(text) || /^\[[^\]]*\]$/.test(text);
  return parseListen(hostOnly ? `${text}:${DEFAULT_GATEWAY_PORT}` : text);
}

/** Repeatable options collect their values; no default, so --help shows none. */
function collect(value: string, previous: readonly string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** One line per relay opened, closed or refused on stderr (never a byte of what they carry). */
function logRelays(ctx: CliContext, gateway: Gateway): void {
  if (ctx.verbosity < 0) return;
  const log = (text: string): void => ctx.out.trace(`gateway: ${text}`);
  gateway.on("relay-opened", (r) => log(`relay ${r.id} opened: ${r.page.remote} (${r.page.origin}) to ${r.target}${r.address === r.target ? "" : ` (${r.address})`}`));
  gateway.on("relay-closed", (r, c) => {
    if (!c.connected) {
      log(`relay ${r.id} from ${r.page.remote} failed: ${c.reason}`);
      return;
    }
    const by = c.by === "page" ? "by the page" : c.by === "target" ? "by the target" : "by the gateway";
    log(`relay ${r.id} to ${r.target} closed ${by} after ${formatDuration(c.durationMs)} (${c.reason}): ${formatBytes(c.bytesToTarget)} to the target, ${formatBytes(c.bytesToPage)} to the page`);
  });
  gateway.on("refused", (r) => log(`refused ${r.remote} (${r.origin})${r.destination === undefined ? "" : ` to ${r.destination}`}: ${r.reason}`));
}

export function gatewayCommand(run: Runner): Command {
  return new Command("gateway")
    .summary("let a web browser reach iSCSI targets (WebSocket to TCP), and serve the web page")
    .description(
      [
        "Serves the iscsi-ts web page and relays its WebSockets to TCP, so that a browser can discover targets, log in (CHAP included) and read and write LUNs. The iSCSI session runs in the browser; the gateway only moves bytes.",
        "It relays to the destinations listed with --allow and nowhere else: names are resolved once at start, and a page asking for any other host or port (or another spelling of an allowed address) is refused, with the reason in the WebSocket's close. Only pages of the gateway's own origin (the address it listens on; on 127.0.0.1 also http://localhost:PORT) may open relays; add others (an HTTPS proxy in front of it) with --allow-origin. A page of any other origin is refused at the handshake.",
        "Each relay opened, closed or refused is logged on stderr, one line each (-q: none); payloads never are. With --json, one document describing the gateway is printed once it listens.",
      ].join("\n\n"),
    )
    .option("--listen <host:port>", `address to listen on (port 0: any free port)`, `127.0.0.1:${DEFAULT_GATEWAY_PORT}`)
    .option("--allow <host:port,...>", "destinations the gateway may connect to (repeatable; a bare host means port 3260); required", collect)
    .option("--allow-origin <origin,...>", "origins besides its own whose pages may use the gateway, e.g. https://tools.example.com (repeatable)", collect)
    .option("--max-connections <n>", "relays open at once; more are refused (WebSocket close 1013)", String(DEFAULT_MAX_CONNECTIONS))
    .option("--web <dir>", "serve the page from this folder (default: the built page, dist/web)")
    .option("--no-page", "serve no page, only the relay (pages of --allow-origin use it)")
    .addHelpText(
      "after",
      examples([
        "iscsi gateway --allow 127.0.0.1:3260            # then open http://127.0.0.1:8260/",
        "iscsi gateway --listen 127.0.0.1:0 --allow 127.0.0.1:3260 --json   # prints the port it took",
        "iscsi gateway --listen 0.0.0.0:8260 --allow san1.example:3260,san2.example:3260 --allow-origin https://tools.example.com",
        "# in the page: pick a portal, Discover, pick a target, give CHAP if it asks, Log in",
        "# from a script: a relay is ws://HOST:PORT/tcp?host=H&port=P, with an allowed Origin header",
      ]),
    )
    .action(async (opts: GatewayCommandOptions, cmd: Command) =>
      run(cmd, async (ctx) => {
        if (opts.allow === undefined || opts.allow.length === 0) {
          throw new ConfigError("give --allow HOST:PORT[,...]: the gateway relays only to the destinations listed (e.g. --allow 127.0.0.1:3260)");
        }
        const { host, port } = parseGatewayListen(opts.listen);
        const maxConnections = parseCount(opts.maxConnections, "--max-connections", { min: 1, max: 100_000 });
        if (!opts.page && opts.web !== undefined) throw new ConfigError("--web and --no-page exclude each other: give one");
        const webRoot = opts.page ? (opts.web ?? DEFAULT_WEB_ROOT) : null;
        const gateway = await startGateway({ host, port, allow: opts.allow, allowOrigins: opts.allowOrigin ?? [], webRoot, maxConnections });
        try {
          logRelays(ctx, gateway);
          if (!isLoopback(host)) {
            ctx.out.warn(
              `listening on ${formatDestination(host, gateway.port)}: whoever reaches it can open connections to ${gateway.config.allow.shown.join(", ")} (the targets' CHAP still applies), and the gateway has no TLS of its own: put an HTTPS proxy in front and add its origin with --allow-origin`,
            );
          }
          const doc = {
            url: gateway.url,
            listen: { host: gateway.host, port: gateway.port },
            allow: gateway.config.allow.shown,
            origins: gateway.origins,
            maxConnections,
            web: webRoot,
          };
          ctx.out.result(doc, () =>
            [
              `gateway on ${gateway.url}, relaying to ${doc.allow.join(", ")}; Ctrl-C stops`,
              `  pages from: ${doc.origins.join(", ")}`,
              webRoot === null ? "  no page served (--no-page)" : `  page: ${gateway.url} (from ${webRoot})`,
            ].join("\n"),
          );
          await ctx.out.flush();
          await new Promise<void>((resolve) => {
            if (ctx.signal.aborted) resolve();
            else ctx.signal.addEventListener("abort", () => resolve(), { once: true });
          });
          ctx.out.note(`stopping: ${gateway.relayCount} relay(s) open`);
        } finally {
          await gateway.close();
        }
        // Stopping on SIGINT/SIGTERM is how a server ends: success.
      }),
    );
}
