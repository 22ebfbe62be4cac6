/**
 * `node`: remembered targets, as open-iscsi's `iscsiadm -m node`: add, list, show, remove, and
 * login/logout. Without a daemon, `node login` checks a record (logs in, shows the session, logs
 * out); with `iscsi up` running it asks the service to keep that node, and `node logout` asks it
 * to let one go.
 */
import { Command } from "commander";
import { ConfigError, parseIscsiUrl } from "../../core/index.js";
import { formatPortal } from "../../node/index.js";
import { checkNodeName, defaultNodeName, formatNbdSpec, type NodeRecord, parseNbdSpec, recordUrl, type Startup } from "../../node/records/record.js";
import type { NodeStore } from "../../node/records/store.js";
import { controlSocketPath } from "../../node/records/paths.js";
import { controlRequest, NoServiceError } from "../../service/control.js";
import type { CliContext } from "../context.js";
import { formatFields, formatTable } from "../format.js";
import { examples, type Runner } from "./command.js";
import { credentialsFor, recordSessionOptions, saveWithSecrets, storeOf } from "./node-records.js";

export function parseStartup(text: string): Startup {
  if (text !== "automatic" && text !== "manual") throw new ConfigError(`--startup "${text}" must be automatic or manual`);
  return text;
}

function recordJson(store: NodeStore, record: NodeRecord): Record<string, unknown> {
  return {
    name: record.name,
    file: store.recordFile(record.name),
    url: recordUrl(record),
    portal: formatPortal(record.portal),
    targetName: record.targetName,
    lun: record.lun ?? null,
    startup: record.startup,
    nbd: record.nbd === undefined ? null : { ...record.nbd, spec: formatNbdSpec(record.nbd) },
    headerDigest: record.headerDigest ?? null,
    dataDigest: record.dataDigest ?? null,
    chap: {
      user: record.chapUser ?? null,
      // Never the secret: whether there is one.
      secret: store.hasSecret(record.name, "chap-secret") ? "set" : "unset",
      targetUser: record.chapTargetUser ?? null,
      targetSecret: store.hasSecret(record.name, "chap-target-secret") ? "set" : "unset",
    },
  };
}

function nbdText(record: NodeRecord): string {
  return record.nbd === undefined ? "unix socket (default)" : formatNbdSpec(record.nbd);
}

/** The running service's answer, or undefined when none runs. */
async function askService(ctx: CliContext, request: Parameters<typeof controlRequest>[1]): Promise<unknown> {
  try {
    return await controlRequest(controlSocketPath(ctx.env), request, Math.max(ctx.timeoutMs * 2, 30_000));
  } catch (error) {
    if (error instanceof NoServiceError) return undefined;
    throw error;
  }
}

function addCommand(run: Runner): Command {
  return new Command("add")
    .summary("remember a target (and LUN)")
    .description(
      "Writes a node record for the target in the URL: its portal, IQN and LUN (without a LUN, `iscsi up` exports the first disk REPORT LUNS lists), whether `iscsi up` logs in to it, and where it serves it over NBD. CHAP credentials from the URL, --chap-user/--chap-secret-file or the environment are kept in separate files readable only by you, never in the record.",
    )
    .argument("<url>", "iscsi://[user[%secret]@]host[:port]/target-iqn[/lun]")
    .option("--name <name>", "the node's name (default: from the IQN and LUN, e.g. disk-1)")
    .option("--startup <when>", "automatic (`iscsi up` logs in) or manual", "manual")
    .option("--nbd <spec>", "listen=HOST:PORT or socket=PATH, optionally ,read-only (default: a Unix socket in the runtime directory)")
    .option("--replace", "replace a record of the same name")
    .addHelpText(
      "after",
      examples([
        "iscsi node add iscsi://192.168.1.10/iqn.2026-11.example:disk/1 --startup automatic",
        "iscsi node add iscsi://nas/iqn.2026-11.example:vm/2 --name vm --nbd listen=127.0.0.1:10810",
        "ISCSI_CHAP_USERNAME=me ISCSI_CHAP_SECRET=... iscsi node add iscsi://nas/iqn.2026-11.example:db/1 --nbd socket=/run/user/1000/db.sock,read-only",
      ]),
    )
    .action(async (urlText: string, opts: { name?: string; startup: string; nbd?: string; replace?: boolean }, cmd: Command) =>
      run(cmd, async (ctx) => {
        const url = parseIscsiUrl(urlText, { requireTarget: true });
        const targetName = url.targetName ?? "";
        const name = checkNodeName(opts.name ?? defaultNodeName(targetName, url.lun));
        const credentials = await credentialsFor(ctx, urlText);
        const record: NodeRecord = {
          name,
          portal: { host: url.host, port: url.port },
          targetName,
          lun: url.lun,
          startup: parseStartup(opts.startup),
          ...(url.headerDigest === undefined ? {} : { headerDigest: url.headerDigest }),
          ...(credentials.user === undefined ? {} : { chapUser: credentials.user }),
          ...(credentials.targetUser === undefined ? {} : { chapTargetUser: credentials.targetUser }),
          ...(opts.nbd === undefined ? {} : { nbd: parseNbdSpec(opts.nbd) }),
        };
        const store = storeOf(ctx);
        const file = saveWithSecrets(store, record, credentials, opts.replace === true);
        ctx.out.result({ added: recordJson(store, record) }, () => `added node ${name}: ${recordUrl(record)} (startup ${record.startup}, NBD ${nbdText(record)}) in ${file}`);
      }),
    );
}

function listCommand(run: Runner): Command {
  return new Command("list")
    .summary("the remembered targets")
    .description("Lists every node record; a damaged one is listed as damaged, with its file and line, and the others still work.")
    .action(async (_opts: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const store = storeOf(ctx);
        const entries = store.list();
        ctx.out.result(
          {
            configDir: store.dir,
            nodes: entries.map((e) => (e.record === undefined ? { name: e.name, file: e.file, damaged: e.error.message } : recordJson(store, e.record))),
          },
          () => {
            if (entries.length === 0) return `no nodes (in ${store.nodesDir}); \`iscsi node add <url>\` or \`iscsi discover <portal> --add\` records some`;
            const rows = entries.map((e) =>
              e.record === undefined
                ? [e.name, "-", "damaged", e.error.message]
                : [e.name, e.record.startup, nbdText(e.record), recordUrl(e.record)],
            );
            return formatTable([{ header: "NAME" }, { header: "STARTUP" }, { header: "NBD" }, { header: "TARGET" }], rows);
          },
        );
      }),
    );
}

function showCommand(run: Runner): Command {
  return new Command("show")
    .summary("one remembered target")
    .argument("<name>", "the node's name")
    .action(async (name: string, _opts: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const store = storeOf(ctx);
        const record = store.get(name);
        const json = recordJson(store, record);
        const chap = json["chap"] as { user: string | null; secret: string; targetUser: string | null; targetSecret: string };
        ctx.out.result(json, () =>
          formatFields([
            ["name", record.name],
            ["file", store.recordFile(record.name)],
            ["url", recordUrl(record)],
            ["target", record.targetName],
            ["portal", formatPortal(record.portal)],
            ["lun", record.lun === undefined ? "the first disk REPORT LUNS lists" : String(record.lun)],
            ["startup", record.startup],
            ["nbd", nbdText(record)],
            ["header digest", record.headerDigest],
            ["data digest", record.dataDigest],
            ["chap user", chap.user ?? "none"],
            ["secret", chap.user === null ? undefined : chap.secret],
            ["mutual chap user", chap.targetUser ?? undefined],
            ["target secret", chap.targetUser === null ? undefined : chap.targetSecret],
          ]),
        );
      }),
    );
}

function removeCommand(run: Runner): Command {
  return new Command("remove")
    .summary("forget a target (and its secrets)")
    .argument("<name>", "the node's name")
    .action(async (name: string, _opts: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const store = storeOf(ctx);
        store.remove(name);
        ctx.out.result({ removed: name }, () => `removed node ${name}${"; a running `iscsi up` lets it go on its next reload (SIGHUP)"}`);
      }),
    );
}

function namesToUse(store: NodeStore, name: string | undefined, all: boolean | undefined): NodeRecord[] {
  if (name !== undefined && all === true) throw new ConfigError("give a node name or --all, not both");
  if (name !== undefined) return [store.get(name)];
  if (all !== true) throw new ConfigError("give a node name, or --all for every node");
  const entries = store.list();
  const damaged = entries.find((e) => e.error !== undefined);
  if (damaged?.error !== undefined) throw damaged.error;
  return entries.flatMap((e) => (e.record === undefined ? [] : [e.record]));
}

function loginCommand(run: Runner): Command {
  return new Command("login")
    .summary("check a record by logging in (or, with `iscsi up` running, have it keep the node)")
    .argument("[name]", "the node's name")
    .option("--all", "every node")
    .description(
      "With `iscsi up` running, asks it to log in to the node and keep it (and its NBD export) like an automatic one. Otherwise logs in, shows the session (initiator name, ISID/TSIH, connections, digests, LUNs) and logs out: there is no daemon to keep a session, `iscsi up` is what keeps them.",
    )
    .action(async (name: string | undefined, opts: { all?: boolean }, cmd: Command) =>
      run(cmd, async (ctx) => {
        const store = storeOf(ctx);
        const records = namesToUse(store, name, opts.all);
        const viaService = await askService(ctx, { op: "status" });
        if (viaService !== undefined) {
          const results = [];
          for (const record of records) results.push(await controlRequest(controlSocketPath(ctx.env), { op: "login", name: record.name }));
          ctx.out.result({ service: true, nodes: results }, () => records.map((r) => `iscsi up keeps node ${r.name} now (\`iscsi status\` shows its session)`).join("\n"));
          return;
        }
        const results: Record<string, unknown>[] = [];
        let firstError: unknown;
        for (const record of records) {
          try {
            const options = await recordSessionOptions(ctx, store, record);
            const ref = ctx.targetRef(recordUrl(record), false);
            const info = await ctx.withSession(
              ref,
              async (session) => ({
                name: record.name,
                ok: true,
                initiatorName: session.initiatorName,
                targetName: session.targetName,
                portal: formatPortal(session.portal),
                isid: session.isid.toString(16).padStart(12, "0"),
                tsih: session.tsih,
                connections: session.connections.map((c) => ({ cid: c.cid, headerDigest: c.headerDigest, dataDigest: c.dataDigest })),
                luns: await session.reportLuns(),
              }),
              options,
            );
            results.push(info);
          } catch (error) {
            firstError ??= error;
            results.push({ name: record.name, ok: false, error: error instanceof Error ? error.message : String(error) });
          }
        }
        ctx.out.result({ service: false, nodes: results }, () =>
          results
            .map((r) =>
              r["ok"] === true
                ? `node ${String(r["name"])}: logged in to ${String(r["targetName"])} at ${String(r["portal"])} as ${String(r["initiatorName"])} (ISID ${String(r["isid"])}, TSIH ${String(r["tsih"])}, LUNs ${(r["luns"] as number[]).join(", ")}), and out again`
                : `node ${String(r["name"])}: failed: ${String(r["error"])}`,
            )
            .concat(firstError === undefined ? ["no `iscsi up` is running: this only checked the records; `iscsi up` keeps sessions"] : [])
            .join("\n"),
        );
        if (firstError !== undefined) throw firstError;
      }),
    );
}

function logoutCommand(run: Runner): Command {
  return new Command("logout")
    .summary("have the running `iscsi up` let a node go")
    .argument("[name]", "the node's name")
    .option("--all", "every node the service keeps")
    .action(async (name: string | undefined, opts: { all?: boolean }, cmd: Command) =>
      run(cmd, async (ctx) => {
        const store = storeOf(ctx);
        if (name !== undefined) checkNodeName(name);
        const status = (await askService(ctx, { op: "status" })) as { nodes: { name: string }[] } | undefined;
        if (status === undefined) {
          throw new ConfigError(`no \`iscsi up\` is running (no service answers on ${controlSocketPath(ctx.env)}), so no session is kept to log out; \`iscsi node login\` without the service logs out by itself`);
        }
        if (name !== undefined && opts.all === true) throw new ConfigError("give a node name or --all, not both");
        if (name === undefined && opts.all !== true) throw new ConfigError("give a node name, or --all for every node the service keeps");
        const names = name !== undefined ? [name] : status.nodes.map((n) => n.name);
        if (name !== undefined && !store.has(name) && !status.nodes.some((n) => n.name === name)) store.get(name);
        const reports = [];
        for (const n of names) reports.push(await controlRequest(controlSocketPath(ctx.env), { op: "logout", name: n }));
        ctx.out.result({ nodes: reports }, () => (names.length === 0 ? "the service keeps no node" : names.map((n) => `node ${n}: logged out (NBD export closed, cache flushed)`).join("\n")));
      }),
    );
}

export function nodeCommand(run: Runner): Command {
  return new Command("node")
    .summary("remembered targets: add, list, show, remove, login, logout")
    .description(
      "Node records, as open-iscsi's `iscsiadm -m node`: one file per target under $ISCSI_TS_CONFIG_DIR, else $XDG_CONFIG_HOME/iscsi-ts, else ~/.config/iscsi-ts (nodes/NAME.conf; secrets in secrets/, mode 0600). `iscsi up` logs in to every node with startup automatic and serves its LUN over NBD.",
    )
    .addCommand(addCommand(run))
    .addCommand(listCommand(run))
    .addCommand(showCommand(run))
    .addCommand(removeCommand(run))
    .addCommand(loginCommand(run))
    .addCommand(logoutCommand(run))
    .addHelpText("after", examples(["iscsi node add iscsi://192.168.1.10/iqn.2026-11.example:disk/1 --startup automatic", "iscsi node list", "iscsi node show disk-1 --json", "iscsi node login disk-1", "iscsi node remove disk-1"]));
}
