/**
 * Moved to src/bench/host-reader.ts (the README's host table, src/bench/hosts-main.ts, runs it
 * under Node, Bun and Deno). This wrapper keeps the old command working after `npm run build`:
 *
 *   <runtime> test/hosts/bench.ts <entry> <iscsi://host:port/iqn/lun of a null LUN> [seconds]
 */
await import(new URL("../../dist/bench/host-reader.js", import.meta.url).href);
export {};
