import { describe, expect, it } from "vitest";
import { LocalProtocolError, RemoteProtocolError } from "../errors.js";
import { DEFAULT_CONNECTION_PARAMETERS } from "./parameters.js";
import { InitiatorRenegotiation } from "./renegotiation.js";

const session = { sessionType: "Normal" as const };

describe("full feature phase renegotiation", () => {
  it("declares a new MaxRecvDataSegmentLength and takes the target's", () => {
    const r = new InitiatorRenegotiation(session, DEFAULT_CONNECTION_PARAMETERS, { maxRecvDataSegmentLength: 65536 });
    expect(r.request()).toEqual([["MaxRecvDataSegmentLength", "65536"]]);
    const out = r.receive([["MaxRecvDataSegmentLength", "32768"]]);
    expect(out.connection).toEqual({ ...DEFAULT_CONNECTION_PARAMETERS, maxRecvDataSegmentLength: 65536, maxSendDataSegmentLength: 32768 });
    expect(out.complete).toBe(true);
    expect(out.replies).toEqual([]);
  });

  it("keeps the peer's limit when the target declares nothing back", () => {
    const current = { ...DEFAULT_CONNECTION_PARAMETERS, maxSendDataSegmentLength: 262144 };
    const r = new InitiatorRenegotiation(session, current, { maxRecvDataSegmentLength: 16384 });
    r.request();
    expect(r.receive([]).connection.maxSendDataSegmentLength).toBe(262144);
  });

  it("refuses login-only keys in a Text Response", () => {
    const r = new InitiatorRenegotiation(session, DEFAULT_CONNECTION_PARAMETERS, {});
    r.request();
    expect(() => r.receive([["MaxBurstLength", "65536"]])).toThrow(RemoteProtocolError);
  });

  it("offers extension keys and reports their answers", () => {
    const r = new InitiatorRenegotiation(session, DEFAULT_CONNECTION_PARAMETERS, { extraKeys: [["X-com.example.Q", "1"]] });
    expect(r.request()).toEqual([["X-com.example.Q", "1"]]);
    expect(r.receive([["X-com.example.Q", "NotUnderstood"]]).extensions).toEqual([["X-com.example.Q", "NotUnderstood"]]);
  });

  it("refuses an out-of-range MaxRecvDataSegmentLength as caller misuse", () => {
    expect(() => new InitiatorRenegotiation(session, DEFAULT_CONNECTION_PARAMETERS, { maxRecvDataSegmentLength: 100 })).toThrow(LocalProtocolError);
  });
});
