/**
 * CHAP against tgtd (RFC 7143 §12.1.3): one-way and mutual logins, a wrong secret, a target that
 * cannot prove itself, which algorithm tgtd settles on when we offer 8,7,6,5 (read off the wire by
 * tshark), and that no secret ever reaches a trace line, an error or a printed session.
 *
 * tgtd numbers its algorithms 5 (MD5) and 7, which it computes as SHA-1 although IANA's 7 is
 * SHA-256; so MD5 is the only algorithm both sides mean the same thing by.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuthenticationError, ChapAlgorithm, discover, LoginError, openSession, type ChapOptions, type IscsiSession } from "../../src/node/index.js";
import { patternBytes } from "../support/pattern.js";
import { Tgtd } from "../support/tgtd.js";
import { useTempDir } from "../support/tmp.js";
import { analyze, pduField, pduKey, problems, startCapture, type CapturedPdu } from "../support/tshark.js";
import { rejectionOf, renderings, sameBytes, settle, TraceLog } from "./interop.test-util.js";

const IQN_MUTUAL = "iqn.2026-11.test.initiator:chap-mutual";
const IQN_IMPOSTOR = "iqn.2026-11.test.initiator:chap-impostor";

const INITIATOR = { user: "alice", secret: "alice-chap-secret-1" };
/** The secret the target must prove (tgtd's outgoing account on the mutual target). */
const TARGET = { user: "tgt-mutual", secret: "target-chap-secret-2" };
/** The impostor target's outgoing account: our expected name, another secret. */
const IMPOSTOR_SECRET = "impostor-chap-secret-3";
const WRONG_SECRET = "wrong-chap-secret-4";
const ALL_SECRETS = [INITIATOR.secret, TARGET.secret, IMPOSTOR_SECRET, WRONG_SECRET];

const oneWay: ChapOptions = { username: INITIATOR.user, secret: INITIATOR.secret };
const mutual: ChapOptions = { ...oneWay, targetUsername: TARGET.user, targetSecret: TARGET.secret };

describe("CHAP against tgtd", () => {
  const tmp = useTempDir("iscsi-ts-chap-");
  let tgtd: Tgtd;
  const open: IscsiSession[] = [];

  beforeAll(async () => {
    tgtd = await Tgtd.start();
    await tgtd.addTarget({ tid: 1, iqn: IQN_MUTUAL, luns: [{ lun: 1, file: { size: 4 << 20 } }] });
    await tgtd.addTarget({ tid: 2, iqn: IQN_IMPOSTOR, luns: [{ lun: 1, file: { size: 4 << 20 } }] });
    await tgtd.addAccount(INITIATOR.user, INITIATOR.secret);
    await tgtd.bindAccount(1, INITIATOR.user);
    await tgtd.bindAccount(2, INITIATOR.user);
    await tgtd.addAccount(TARGET.user, TARGET.secret);
    await tgtd.bindAccount(1, TARGET.user, { outgoing: true });
    // tgtd's account names are global, so the impostor proves a name of its own with another secret;
    // we expect TARGET's name and secret from it.
    await tgtd.addAccount("tgt-impostor", IMPOSTOR_SECRET);
    await tgtd.bindAccount(2, "tgt-impostor", { outgoing: true });
  });

  afterAll(async () => {
    for (const s of open) s.close();
    await tgtd?.stop();
  });

  async function login(iqn: string, chap: ChapOptions, log?: TraceLog): Promise<IscsiSession> {
    const session = await settle(openSession(tgtd.url(iqn), { chap, keepAlive: false, ...(log === undefined ? {} : { trace: log.trace }) }), `CHAP login to ${iqn}`);
    open.push(session);
    return session;
  }

  async function roundTrip(session: IscsiSession, seed: number): Promise<void> {
    const lun = session.lun(1);
    const data = patternBytes(4096, 64 * 1024, seed);
    await settle(lun.write(8, data), "write after a CHAP login");
    expect(sameBytes(await settle(lun.read(8, 128), "read after a CHAP login"), data)).toBe("equal");
  }

  it("one-way CHAP logs in and the session carries writes and reads", async () => {
    const session = await login(IQN_MUTUAL, oneWay);
    await roundTrip(session, 1);
    const sessions = await tgtd.sessions(1);
    expect(sessions.map((s) => s.initiator)).toContain(session.initiatorName);
    await settle(session.logout(), "logout");
  });

  it("mutual CHAP logs in when the target proves the secret we expect", async () => {
    const log = new TraceLog();
    const session = await login(IQN_MUTUAL, mutual, log);
    await roundTrip(session, 2);
    // We challenged the target (CHAP_I/CHAP_C with our response) and it answered with its name.
    const challenge = log.entries().find((e) => e.direction === "send" && e.keys["CHAP_I"] !== undefined);
    expect(challenge?.keys["CHAP_C"], log.tail()).toBeDefined();
    const answer = log.entries().find((e) => e.direction === "receive" && e.keys["CHAP_N"] !== undefined);
    expect(answer?.keys["CHAP_N"]).toBe(TARGET.user);
    await settle(session.logout(), "logout");
  });

  it("discovery with mutual CHAP credentials lists the targets, though tgtd does not authenticate discovery sessions", async () => {
    // The credentials that log in to the mutual target are the ones a user has at hand for
    // discovery too; tgtd answers AuthMethod=None there, which a discovery session accepts.
    const found = await settle(discover(`${tgtd.host}:${tgtd.port}`, { chap: mutual }), "discovery with mutual CHAP credentials");
    expect(found.map((t) => t.name).sort()).toEqual([IQN_IMPOSTOR, IQN_MUTUAL].sort());
  });

  it("a wrong secret is refused with an AuthenticationError (ISCSI_ERR_AUTH, status 0x0201)", async () => {
    const error = await rejectionOf(openSession(tgtd.url(IQN_MUTUAL), { chap: { ...oneWay, secret: WRONG_SECRET }, keepAlive: false }), "login with a wrong secret");

    expect(error).toBeInstanceOf(AuthenticationError);
    expect(error).toMatchObject({ code: "ISCSI_ERR_AUTH", statusClass: 0x02, statusDetail: 0x01 });
    expect((error as Error).message).toContain(IQN_MUTUAL);
    expect((error as Error).message).toMatch(/authentication/i);
  });

  it("a target that proves another secret is refused with ISCSI_ERR_MUTUAL_AUTH and no command is ever sent", async () => {
    const log = new TraceLog();
    const error = await rejectionOf(
      openSession(tgtd.url(IQN_IMPOSTOR), { chap: { ...mutual, targetUsername: "tgt-impostor" }, keepAlive: false, trace: log.trace }),
      "login to a target proving another secret",
    );

    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as AuthenticationError).code).toBe("ISCSI_ERR_MUTUAL_AUTH");
    expect((error as Error).message).toContain(IQN_IMPOSTOR);
    const sent = log.entries().filter((e) => e.direction === "send");
    // Only security-stage Login Requests left: no operational stage, no SCSI, no text, no NOP.
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.filter((e) => e.opcode !== "LoginRequest" || e.fields["CSG"] !== "0").map((e) => e.line), log.tail()).toEqual([]);
    expect(await tgtd.sessions(2)).toEqual([]);
  });

  it("no CHAP secret appears in trace lines, errors or sessions, however they are printed", async () => {
    const log = new TraceLog();
    const printed: string[] = [];
    const good = await login(IQN_MUTUAL, mutual, log);
    printed.push(...renderings(good), ...renderings(good.params), ...renderings(good.connections));
    await settle(good.logout(), "logout");
    printed.push(...renderings(good));
    const failures = [
      openSession(tgtd.url(IQN_MUTUAL), { chap: { ...oneWay, secret: WRONG_SECRET }, keepAlive: false, trace: log.trace }),
      openSession(tgtd.url(IQN_IMPOSTOR), { chap: { ...mutual, targetUsername: "tgt-impostor" }, keepAlive: false, trace: log.trace }),
      // The secret in a libiscsi-style URL (user%secret@host) must not come back in the error either.
      openSession(tgtd.url(IQN_MUTUAL, 1, { user: INITIATOR.user, secret: WRONG_SECRET }), { keepAlive: false, trace: log.trace }),
    ];
    // Handlers go on every attempt at once: awaiting them one by one would leave the later
    // rejections unhandled for a while.
    const rejections = failures.map((attempt, i) => rejectionOf(attempt, `failing login ${i}`));
    for (const rejection of rejections) printed.push(...renderings(await rejection));

    expect(log.lines.length).toBeGreaterThan(10);
    for (const secret of ALL_SECRETS) {
      expect(log.lines.filter((line) => line.includes(secret)), `trace lines containing ${secret}`).toEqual([]);
      expect(printed.filter((text) => text.includes(secret)), `printed errors/sessions containing ${secret}`).toEqual([]);
    }
  });

  it("offered CHAP_A=8,7,6,5, tgtd and we settle on MD5, the one algorithm both number alike, as tshark shows", async () => {
    const capture = await startCapture({ port: tgtd.port, dir: tmp().path });
    let session: IscsiSession;
    try {
      session = await login(IQN_MUTUAL, oneWay);
      await settle(session.logout(), "logout");
    } finally {
      await capture.stop();
    }
    const analysis = await analyze(capture.pcapPath, tgtd.port);
    expect(problems(analysis, { layers: ["tcp", "iscsi"] })).toEqual([]);

    const logins = analysis.pdus.filter((p) => p.name === "Login Command" || p.name === "Login Response");
    const offers = logins.filter((p) => p.fromInitiator && pduKey(p, "CHAP_A") !== undefined);
    const choices = logins.filter((p) => !p.fromInitiator && pduKey(p, "CHAP_A") !== undefined);
    expect(offers.map((p) => pduKey(p, "CHAP_A"))[0]).toBe("8,7,6,5");
    expect(choices.length).toBe(offers.length);
    // Each answer picks from the offer it answers (RFC 7143 §12.1.3 via RFC 1994's list rule).
    offers.forEach((offer, i) => {
      const choice = pduKey(choices[i] as CapturedPdu, "CHAP_A") ?? "";
      expect(pduKey(offer, "CHAP_A")?.split(","), `answer ${i}`).toContain(choice);
    });
    // The login that reached full feature phase used MD5.
    const fullFeature = logins.filter((p) => !p.fromInitiator && pduField(p, "iscsi.login.T") === "1" && Number(pduField(p, "iscsi.login.nsg")) === 3);
    expect(fullFeature).toHaveLength(1);
    const lastChoiceBefore = choices.filter((p) => p.frame < (fullFeature[0]?.frame ?? 0)).at(-1);
    expect(lastChoiceBefore && pduKey(lastChoiceBefore, "CHAP_A")).toBe(String(ChapAlgorithm.MD5));
    // A first choice other than MD5 must have led to a retry offering MD5 alone.
    if (pduKey(choices[0] as CapturedPdu, "CHAP_A") !== "5") expect(offers.map((p) => pduKey(p, "CHAP_A"))).toEqual(["8,7,6,5", "5"]);
  });

  it("a CHAP login restricted to SHA-256 is refused rather than downgraded to MD5", async () => {
    const log = new TraceLog();
    const outcome = await settle(
      openSession(tgtd.url(IQN_MUTUAL), { chap: { ...oneWay, algorithms: [ChapAlgorithm.SHA256] }, keepAlive: false, trace: log.trace }).then(
        (session) => {
          open.push(session);
          return "logged in";
        },
        (error: unknown) => error,
      ),
      "a SHA-256-only CHAP login",
    );

    // tgtd's "7" is SHA-1, so no algorithm both sides allow remains; MD5 was not allowed by the caller.
    const offered = log.entries().flatMap((e) => (e.direction === "send" && e.keys["CHAP_A"] !== undefined ? [e.keys["CHAP_A"]] : []));
    expect(offered.filter((a) => a.split(",").includes("5")), `CHAP_A offers: ${offered.join(" | ")}; outcome: ${String(outcome)}`).toEqual([]);
    expect(outcome).toBeInstanceOf(LoginError);
    expect((outcome as LoginError).code).toBe("ISCSI_ERR_AUTH");
  });
});
