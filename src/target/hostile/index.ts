/**
 * The hostile-target mode: `hostileConnections(behaviour, context)` gives the engine, for each
 * connection, a layer that rewrites what the connection sends (see behaviour.ts for the list).
 * The engine stays honest in every other respect: the layer only changes bytes on their way out,
 * and answers the initiator's requests for the rest of a long login text. The engine's `trace`
 * shows the PDUs as the engine made them, before the layer changed them.
 */
import { Opcode } from "../../core/pdu/opcodes.js";
import { type HostileBehaviour, checkHostile } from "./behaviour.js";
import type { HostileConnection, HostileContext, HostileLink } from "./context.js";
import { HostileFullFeature } from "./full-feature.js";
import { HostileLogin } from "./login.js";

export { type HostileBehaviour, type HostileKind, checkHostile } from "./behaviour.js";
export type { HostileConnection, HostileContext, HostileLink } from "./context.js";

export function hostileConnections(behaviour: HostileBehaviour, context: HostileContext): (link: HostileLink) => HostileConnection {
  const checked = checkHostile(behaviour);
  return (link) => {
    const login = new HostileLogin(checked, context, link);
    const fullFeature = new HostileFullFeature(checked, context, link);
    return {
      loginRequest: (pdu) => login.request(pdu),
      outgoing: (pdu, pieces) => (pdu.opcode === Opcode.LoginResponse ? login.response(pdu, pieces) : fullFeature.outgoing(pdu, pieces)),
      incoming: (pdu) => fullFeature.incoming(pdu),
    };
  };
}
