/**
 * iSNS failures, inside the library's error tree. The server breaking iSNSP and the server
 * refusing a request both carry the code ISCSI_ERR_REMOTE_PROTOCOL (a peer that did not do what
 * the protocol asks: exit 4 in the CLI); a refusal also names its RFC 4171 §6.4 status.
 */
import { RemoteProtocolError, type IscsiErrorOptions } from "../errors.js";
import { statusText } from "./constants.js";

/** Bytes that are not iSNSP: a bad header, a length past the data, a TLV that overruns its PDU. */
export class IsnsProtocolError extends RemoteProtocolError {
  constructor(message: string, options?: IscsiErrorOptions) {
    super(message, options);
  }
}

/** The server answered with a status other than Successful. */
export class IsnsStatusError extends RemoteProtocolError {
  readonly status: number;
  readonly statusText: string;
  constructor(status: number, request: string, options?: IscsiErrorOptions) {
    super(`the iSNS server refused ${request}: ${statusText(status)} (status ${status})`, options);
    this.status = status;
    this.statusText = statusText(status);
  }
}
