/**
 * SendTargets discovery (RFC 7143 §13.3, Appendix D) against tgtd with three visible targets, one
 * hidden by its ACL, and two portals (127.0.0.1 and 127.0.0.2, same port, portal group 1), compared
 * with what libiscsi's iscsi-ls reports.
 *
 * tgtd answers SendTargets=All with one TargetAddress per target: the portal the discovery
 * connection arrived on (its target_list_build adds the connection's own address). So "every
 * portal of every target" is proven as the union of discovering at each portal, which must match
 * tgtd's own portal list.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { discover, openSession, type DiscoveredTarget } from "../../src/node/index.js";
import { iscsiLs } from "../support/peers.js";
import { checkOk } from "../support/processes.js";
import { Tgtd } from "../support/tgtd.js";
import { settle } from "./interop.test-util.js";

const VISIBLE = ["iqn.2026-11.test.initiator:disc-a", "iqn.2026-11.test.initiator:disc-b", "iqn.2026-11.test.initiator:disc-c"];
const HIDDEN = "iqn.2026-11.test.initiator:disc-hidden";
const SECOND_HOST = "127.0.0.2";

/** "name host:port,tpgt" lines, sorted: one per (target, portal). */
function ours(targets: readonly DiscoveredTarget[]): string[] {
  return targets.flatMap((t) => t.addresses.map((a) => `${t.name} ${a.host}:${a.port},${a.portalGroupTag ?? "?"}`)).sort();
}

/** The same from iscsi-ls's "Target:<iqn> Portal:<host:port,tpgt>" lines. */
function libiscsi(stdout: string): string[] {
  return [...stdout.matchAll(/^Target:(\S+) Portal:(\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
}

describe("SendTargets discovery against tgtd", () => {
  let tgtd: Tgtd;
  let portals: string[];

  beforeAll(async () => {
    tgtd = await Tgtd.start();
    for (const [i, iqn] of VISIBLE.entries()) await tgtd.addTarget({ tid: i + 1, iqn, luns: [{ lun: 1, file: { size: 1 << 20 } }] });
    // Admits only an address we do not have: tgtd must leave it out of our SendTargets answer.
    await tgtd.addTarget({ tid: 9, iqn: HIDDEN, allowAll: false });
    await tgtd.allowInitiator(9, "10.99.99.99");
    await tgtd.tgtadm(["--op", "new", "--mode", "portal", "--param", `portal=${SECOND_HOST}:${tgtd.port}`]);
    const shown = await tgtd.tgtadm(["--op", "show", "--mode", "portal"]);
    portals = [...shown.matchAll(/^Portal: (\S+)$/gm)].map((m) => m[1] as string).sort();
  });

  afterAll(async () => {
    await tgtd?.stop();
  });

  it("tgtd listens on both portals, so the comparisons below cover two addresses", () => {
    expect(portals).toEqual([`127.0.0.1:${tgtd.port},1`, `${SECOND_HOST}:${tgtd.port},1`]);
  });

  for (const host of ["127.0.0.1", SECOND_HOST]) {
    it(`at ${host}, lists every visible target with that portal and its group tag, exactly as iscsi-ls does`, async () => {
      const found = await settle(discover(`${host}:${tgtd.port}`), `discovery at ${host}`);
      const ls = checkOk(await iscsiLs(`iscsi://${host}:${tgtd.port}`, { showLuns: false }));

      expect(found.map((t) => t.name).sort()).toEqual([...VISIBLE].sort());
      expect(ours(found)).toEqual(VISIBLE.map((iqn) => `${iqn} ${host}:${tgtd.port},1`).sort());
      expect(ours(found)).toEqual(libiscsi(ls.stdout));
      expect(found.map((t) => t.name)).not.toContain(HIDDEN);
    });
  }

  it("the union over both portals gives every target every portal tgtd has", async () => {
    const all = [
      ...(await settle(discover(tgtd.portal), "discovery at 127.0.0.1")),
      ...(await settle(discover(`iscsi://${SECOND_HOST}:${tgtd.port}`), `discovery at ${SECOND_HOST} by URL`)),
    ];
    for (const iqn of VISIBLE) {
      const addresses = all.filter((t) => t.name === iqn).flatMap((t) => t.addresses.map((a) => `${a.host}:${a.port},${a.portalGroupTag}`));
      expect(addresses.sort(), iqn).toEqual(portals);
    }
  });

  it("an address found by discovery logs in to its target", async () => {
    const found = await settle(discover(`${SECOND_HOST}:${tgtd.port}`), "discovery");
    const target = found.find((t) => t.name === VISIBLE[1]);
    const address = target?.addresses[0];
    expect(address).toBeDefined();
    const session = await settle(
      openSession({ portal: { host: address?.host ?? "", port: address?.port ?? 0 }, targetName: target?.name ?? "", keepAlive: false }),
      "login at a discovered address",
    );
    try {
      expect(session.params.targetName).toBe(VISIBLE[1]);
      expect(session.params.targetPortalGroupTag).toBe(address?.portalGroupTag);
      expect(session.portal).toEqual({ host: SECOND_HOST, port: tgtd.port });
      expect((await tgtd.sessions(2)).map((s) => s.initiator)).toEqual([session.initiatorName]);
    } finally {
      await settle(session.logout(), "logout");
    }
  });
});
