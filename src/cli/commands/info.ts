/**
 * The commands that look without touching data: discover, ls, luns, inquiry, readcap.
 */
import { Command } from "commander";
import { isIscsiError, ScsiError, buildReadCapacity16Cdb, parseReadCapacity16Data, type ReadCapacity16Data, parseIsnsServer, type InquiryData } from "../../core/index.js";
import { formatPortal, type Portal, type IscsiSession, isUnsupportedCommand, discoverIsns, type Lun } from "../../node/index.js";
import { CliError } from "../errors.js";
import type { CliContext } from "../context.js";
import { formatTable, hex } from "../format.js";
import { capacityJson, decodeVpd, formatCapacity, formatInquiry, hasCapacity, inquiryJson, parseVpdPage, readCapacity16Json, shortDeviceType } from "../scsi-text.js";
import { formatBytes } from "../units.js";
import { examples, type Runner } from "./command.js";
import { addDiscovered } from "./discover-add.js";
import { parseStartup } from "./node.js";

// ---------------------------------------------------------------- discover

export function discoverCommand(run: Runner): Command {
  return new Command("discover")
    .summary("list the targets at a portal (SendTargets)")
    .description(
      "Logs in a discovery session at PORTAL, asks for every target (SendTargets=All), and lists each target with its portals and portal group tags. With --isns instead of PORTAL, asks an iSNS server (RFC 4171) for every target it knows, in the same shape.",
    )
    .argument("[portal]", "host[:port] or iscsi://host[:port]")
    .option("--isns <host[:port]>", "ask this iSNS server instead of a portal (port 3205 unless given)")
    .option("--add", "record every target found as a node (as `iscsiadm -m discovery -t st` does); see `iscsi node`")
    .option("--startup <when>", "with --add: automatic or manual", "manual")
    .addHelpText("after", examples(["iscsi discover 192.168.1.10", "iscsi discover 127.0.0.1:3260 --json", "ISCSI_CHAP_USERNAME=u ISCSI_CHAP_SECRET=s iscsi discover iscsi://nas", "iscsi discover 192.168.1.10 --add --startup automatic", "iscsi discover --isns 10.0.0.5 --json"]))
    .action(async (portalText: string | undefined, opts: { add?: boolean; startup: string; isns?: string }, cmd: Command) =>
      run(cmd, async (ctx) => {
        const startup = parseStartup(opts.startup);
        if ((portalText === undefined) === (opts.isns === undefined)) throw new CliError("ISCSI_CLI_USAGE", "give a portal or --isns HOST[:PORT], one of the two");
        const isns = opts.isns === undefined ? undefined : parseIsnsServer(opts.isns);
        const { portal, url } = isns === undefined ? ctx.portalRef(portalText ?? "") : { portal: isns, url: undefined };
        const targets = isns === undefined ? await ctx.discover(portal, url) : await discoverIsns(isns, { initiatorName: ctx.initiator.name, timeoutMs: ctx.timeoutMs });
        const added = opts.add === true ? await addDiscovered(ctx, portal, url === undefined ? undefined : portalText, targets, startup) : undefined;
        const json = {
          ...(added === undefined ? {} : { added }),
          ...(isns === undefined ? { portal: formatPortal(portal) } : { isns: formatPortal(isns) }),
          targets: targets.map((t) => ({
            name: t.name,
            ...(t.alias === undefined ? {} : { alias: t.alias }),
            portals: t.addresses.map((a) => ({ host: a.host, port: a.port, portalGroupTag: a.portalGroupTag, address: formatPortal(a) })),
          })),
        };
        ctx.out.result(json, () => {
          if (targets.length === 0) return isns === undefined ? `No targets at ${formatPortal(portal)}` : `No targets known to the iSNS server at ${formatPortal(isns)}`;
          const rows = targets.flatMap((t) =>
            t.addresses.length === 0 ? [[t.name, "-", "-"]] : t.addresses.map((a) => [t.name, formatPortal(a), String(a.portalGroupTag)]),
          );
          const table = formatTable([{ header: "TARGET" }, { header: "PORTAL" }, { header: "TPGT", align: "right" }], rows);
          return added === undefined ? table : `${table}\n${added.map((a) => `${a.recorded ? "recorded" : "already recorded"} node ${a.name}: ${a.url}`).join("\n")}`;
        });
      }),
    );
}

// ---------------------------------------------------------------- ls

interface LunJson {
  readonly lun: number;
  readonly deviceType?: number;
  readonly type?: string;
  readonly typeName?: string;
  readonly vendor?: string;
  readonly product?: string;
  readonly revision?: string;
  readonly blocks?: number | bigint;
  readonly blockSize?: number;
  readonly bytes?: number | bigint;
  readonly error?: { readonly code: string | undefined; readonly message: string };
}

interface TargetJson {
  readonly name: string;
  readonly portal: string;
  readonly luns: LunJson[];
  readonly error?: { readonly code: string | undefined; readonly message: string };
}

function errorJson(error: unknown): { code: string | undefined; message: string } {
  return { code: isIscsiError(error) ? error.code : undefined, message: error instanceof Error ? error.message : String(error) };
}

/** REPORT LUNS, then INQUIRY and (for block devices) READ CAPACITY of each. */
async function describeLuns(session: IscsiSession): Promise<LunJson[]> {
  const numbers = await session.reportLuns();
  const out: LunJson[] = [];
  for (const n of numbers) {
    const lun = session.lun(n);
    try {
      const inq = await lun.inquiry();
      let capacity: Partial<LunJson> = {};
      if (inq.peripheralQualifier === 0 && hasCapacity(inq.peripheralDeviceType)) {
        const c = await lun.readCapacity();
        capacity = { blocks: c.blocks, blockSize: c.blockSize, bytes: c.bytes };
      }
      out.push({
        lun: n,
        deviceType: inq.peripheralDeviceType,
        type: shortDeviceType(inq.peripheralDeviceType),
        typeName: inq.peripheralDeviceTypeName,
        vendor: inq.vendor,
        product: inq.product,
        revision: inq.revision,
        ...capacity,
      });
    } catch (error) {
      // One LUN that will not answer does not hide the others; a dead session does.
      if (isIscsiError(error) && error.code !== "ISCSI_ERR_SCSI") throw error;
      out.push({ lun: n, error: errorJson(error) });
    }
  }
  return out;
}

function lunRows(luns: readonly LunJson[]): string[][] {
  return luns.map((l) => [
    String(l.lun),
    l.type ?? "?",
    l.bytes === undefined ? "-" : formatBytes(l.bytes),
    l.blocks === undefined ? "-" : `${String(l.blocks)} x ${l.blockSize ?? "?"}`,
    l.vendor ?? "",
    l.error === undefined ? (l.product ?? "") : `error: ${l.error.message}`,
  ]);
}

export function lsCommand(run: Runner): Command {
  return new Command("ls")
    .summary("list targets and their LUNs (type, size, vendor, product)")
    .description(
      "With a portal, discovers every target there and lists the LUNs of each; with a target URL, lists that target's LUNs. For each LUN: REPORT LUNS, INQUIRY and READ CAPACITY.",
    )
    .argument("<portal-or-url>", "host[:port], iscsi://host[:port], or iscsi://host[:port]/target-iqn")
    .addHelpText("after", examples(["iscsi ls 127.0.0.1:3260", "iscsi ls iscsi://127.0.0.1/iqn.2026-11.example:disk", "iscsi ls 10.0.0.5 --json | jq '.targets[].luns'"]))
    .action(async (text: string, _opts: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const { portal, url } = ctx.portalRef(text);
        const names = url?.targetName !== undefined ? [url.targetName] : (await ctx.discover(portal, url)).map((t) => t.name);
        const targets: TargetJson[] = [];
        let firstError: unknown;
        for (const name of names) {
          try {
            const luns = await ctx.withSession(targetRefAt(ctx, text, portal, name, url), describeLuns);
            targets.push({ name, portal: formatPortal(portal), luns });
          } catch (error) {
            // With several targets, one refusing us (CHAP) does not hide the rest: it is listed
            // with its error, and the exit status still reports it.
            if (names.length === 1) throw error;
            firstError ??= error;
            targets.push({ name, portal: formatPortal(portal), luns: [], error: errorJson(error) });
          }
        }
        ctx.out.result({ portal: formatPortal(portal), targets }, () => {
          if (targets.length === 0) return `No targets at ${formatPortal(portal)}`;
          const columns = [{ header: "LUN", align: "right" as const }, { header: "TYPE" }, { header: "SIZE", align: "right" as const }, { header: "BLOCKS" }, { header: "VENDOR" }, { header: "PRODUCT" }];
          return targets
            .map((t) => {
              const head = `${t.name} at ${t.portal}`;
              if (t.error !== undefined) return `${head}\n  error: ${t.error.message}`;
              if (t.luns.length === 0) return `${head}\n  no LUNs`;
              return `${head}\n${formatTable(columns, lunRows(t.luns))
                .split("\n")
                .map((l) => `  ${l}`)
                .join("\n")}`;
            })
            .join("\n\n");
        });
        if (firstError !== undefined) throw firstError;
      }),
    );
}

/** A target on the portal of `text`, with the credentials of its URL if it had any. */
function targetRefAt(ctx: CliContext, text: string, portal: Portal, name: string, url: ReturnType<CliContext["portalRef"]>["url"]) {
  const base = url ?? { host: portal.host, port: portal.port, targetName: undefined, lun: undefined, username: undefined, secret: undefined, targetUsername: undefined, targetSecret: undefined, headerDigest: undefined };
  return { url: { ...base, targetName: name }, shown: `${/^iscsi:\/\//i.test(text) ? "" : "iscsi://"}${formatPortal(portal)}/${name}`, portal, targetName: name, lun: 0 };
}

// ---------------------------------------------------------------- luns

export function lunsCommand(run: Runner): Command {
  return new Command("luns")
    .summary("list the LUN numbers of a target (REPORT LUNS)")
    .argument("<target-url>", "iscsi://[user[%secret]@]host[:port]/target-iqn")
    .addHelpText("after", examples(["iscsi luns iscsi://127.0.0.1/iqn.2026-11.example:disk", "iscsi luns iscsi://127.0.0.1:3260/iqn.2026-11.example:disk --json"]))
    .action(async (text: string, _opts: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const ref = ctx.targetRef(text, false);
        // A LUN URL is most likely a slip (or a script reusing one): take it, and say so.
        if (ref.url.lun !== undefined) ctx.out.note(`note: luns lists every LUN of the target; the /${ref.url.lun} in the URL is ignored`);
        const luns = await ctx.withSession(ref, (s) => s.reportLuns());
        ctx.out.result({ target: ref.targetName, portal: formatPortal(ref.portal), luns }, () => luns.map(String).join("\n"));
      }),
    );
}

// ---------------------------------------------------------------- inquiry, readcap

/** INQUIRY of the LUN, refusing one the target says is not there (SPC-4: qualifier 011b). */
export async function inquireExisting(lun: Lun, targetName: string): Promise<InquiryData> {
  const inq = await lun.inquiry();
  if (inq.peripheralQualifier === 3) {
    throw new CliError("ISCSI_CLI_NO_SUCH_LUN", `LUN ${lun.number} does not exist on ${targetName} (INQUIRY peripheral qualifier 011b); \`iscsi luns\` lists them`);
  }
  return inq;
}

export function inquiryCommand(run: Runner): Command {
  return new Command("inquiry")
    .summary("standard INQUIRY data, or a VPD page, decoded")
    .argument("<lun-url>", "iscsi://[user[%secret]@]host[:port]/target-iqn/lun")
    .option("--vpd <page>", "a VPD page: a number (0x80, 0x83, 0xb0) or a name (supported, serial, device-id, block-limits, characteristics, provisioning)")
    .addHelpText(
      "after",
      examples([
        "iscsi inquiry iscsi://127.0.0.1/iqn.2026-11.example:disk/1",
        "iscsi inquiry iscsi://127.0.0.1/iqn.2026-11.example:disk/1 --vpd 0x83",
        "iscsi inquiry iscsi://127.0.0.1/iqn.2026-11.example:disk/1 --vpd block-limits --json",
      ]),
    )
    .action(async (text: string, opts: { vpd?: string }, cmd: Command) =>
      run(cmd, async (ctx) => {
        const page = opts.vpd === undefined ? undefined : parseVpdPage(opts.vpd);
        const ref = ctx.targetRef(text, true);
        await ctx.withLun(ref, async (lun) => {
          const inq = await inquireExisting(lun, ref.targetName);
          if (page === undefined) {
            ctx.out.result({ lun: ref.lun, target: ref.targetName, inquiry: inquiryJson(inq) }, () => formatInquiry(inq));
            return;
          }
          const vpd = decodeVpd(page, await vpdPage(lun, page));
          ctx.out.result({ lun: ref.lun, target: ref.targetName, page: vpd.page, name: vpd.name, vpd: vpd.decoded }, () => `${vpd.name} (VPD page ${hex(vpd.page)})\n${vpd.text}`);
        });
      }),
    );
}

/** SPC-4 ASC 0x24: INVALID FIELD IN CDB. */
const ASC_INVALID_FIELD_IN_CDB = 0x24;

/**
 * A VPD page's bytes. A LUN without the page answers ILLEGAL REQUEST, INVALID FIELD IN CDB (the
 * page code is the field), which says nothing about VPD pages: the error says which page is
 * missing and how to list the ones there are, same status and sense (exit 3).
 */
async function vpdPage(lun: Lun, page: number): Promise<Uint8Array> {
  try {
    return await lun.vpdRaw(page);
  } catch (error) {
    if (!(error instanceof ScsiError) || error.sense?.key !== 0x05 || error.sense.asc !== ASC_INVALID_FIELD_IN_CDB) throw error;
    const hint = `the LUN does not offer VPD page ${hex(page)}; \`--vpd supported\` lists the pages it has`;
    throw new ScsiError(error.status, `${error.message} (${hint})`, error.sense, error.senseData);
  }
}

/** READ CAPACITY(16)'s data, or undefined from a LUN without the command (it has answered READ CAPACITY(10)). */
async function readCapacity16(lun: Lun): Promise<ReadCapacity16Data | undefined> {
  try {
    const result = await lun.execute(buildReadCapacity16Cdb({ allocationLength: 32 }), { dataIn: 32 });
    return parseReadCapacity16Data(result.data);
  } catch (error) {
    if (isUnsupportedCommand(error)) return undefined;
    throw error;
  }
}

export function readcapCommand(run: Runner): Command {
  return new Command("readcap")
    .summary("capacity, block sizes, protection and provisioning (READ CAPACITY(16), or (10))")
    .argument("<lun-url>", "iscsi://[user[%secret]@]host[:port]/target-iqn/lun")
    .addHelpText("after", examples(["iscsi readcap iscsi://127.0.0.1/iqn.2026-11.example:disk/1", "iscsi readcap iscsi://127.0.0.1/iqn.2026-11.example:disk/1 --json | jq .bytes"]))
    .action(async (text: string, _opts: unknown, cmd: Command) =>
      run(cmd, async (ctx) => {
        const ref = ctx.targetRef(text, true);
        const [capacity, rc16] = await ctx.withLun(ref, async (lun) => [await lun.readCapacity(), await readCapacity16(lun)] as const);
        ctx.out.result(
          { lun: ref.lun, target: ref.targetName, command: rc16 === undefined ? "READ CAPACITY(10)" : "READ CAPACITY(16)", ...capacityJson(capacity), ...(rc16 === undefined ? {} : { readCapacity16: readCapacity16Json(rc16) }) },
          () => formatCapacity(capacity, rc16),
        );
      }),
    );
}
