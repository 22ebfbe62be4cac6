/**
 * The state diagrams of docs/ARCHITECTURE.md, drawn from the tables themselves (machine.ts), so
 * the picture is the code. scripts/state-diagram.mjs writes them into the document; a test checks
 * the document still shows what the tables say.
 */
import { CONNECTION_TABLE, type MachineTable, SESSION_TABLE, SessionPhase } from "./machine.js";
import { ConnectionState } from "./states.js";

function edges<St extends string, Ev extends string>(table: MachineTable<St, Ev>): string[] {
  const lines: string[] = [];
  for (const from of Object.keys(table) as St[]) {
    const row = table[from];
    for (const event of Object.keys(row) as Ev[]) {
      const next = row[event];
      if (next === undefined) continue;
      lines.push(`  ${from} --> ${next.to}: ${event}${next.rfc === undefined ? "" : ` (${next.rfc})`}`);
    }
  }
  return lines;
}

/** One Mermaid `stateDiagram-v2` of a table, its start and end marked. */
export function mermaid<St extends string, Ev extends string>(table: MachineTable<St, Ev>, start: St, end: St | undefined): string {
  const lines = ["stateDiagram-v2", `  [*] --> ${start}`, ...edges(table)];
  if (end !== undefined) lines.push(`  ${end} --> [*]`);
  return lines.join("\n");
}

/** Both diagrams, as Markdown: the session's (RFC 7143 §8.3) and a connection's (§8.1.3). */
export function stateDiagrams(): string {
  return [
    "Session (RFC 7143 §8.3; LOGGED_IN split by what the session does about a logout):",
    "",
    "```mermaid",
    mermaid(SESSION_TABLE, SessionPhase.Free, SessionPhase.Closed),
    "```",
    "",
    "Connection (RFC 7143 §8.1.3, the initiator's side):",
    "",
    "```mermaid",
    mermaid(CONNECTION_TABLE, ConnectionState.Free, undefined),
    "```",
  ].join("\n");
}
