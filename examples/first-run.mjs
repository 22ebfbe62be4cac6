// The first run, with the library: serve a LUN with the embedded target, discover it, log in,
// look at it, write a pattern and read it back, log out. Run with `node examples/first-run.mjs`
// after `npm run build` (in your own project: import from "iscsi-ts" and "iscsi-ts/target").
import { discover, openSession } from "../dist/node/index.js";
import { startTarget } from "../dist/target/server.js";

const target = await startTarget({
  targets: [{ iqn: "iqn.2026-11.io.iscsi-ts:example", luns: [{ lun: 1, backend: "mem:64M" }] }],
});
const portal = `${target.host}:${target.port}`;
try {
  for (const found of await discover(portal)) {
    console.log("target", found.name, found.addresses.map((a) => `${a.host}:${a.port},${a.portalGroupTag}`).join(" "));
  }

  const session = await openSession(`iscsi://${portal}/iqn.2026-11.io.iscsi-ts:example`);
  const lun = session.lun(1);
  const inquiry = await lun.inquiry();
  const capacity = await lun.readCapacity();
  console.log("inquiry", inquiry.vendor, inquiry.product, inquiry.revision);
  console.log("capacity", capacity.bytes, "bytes in", capacity.blocks, "blocks of", capacity.blockSize);

  const pattern = new Uint8Array(1024 * 1024).map((_, i) => (i * 31) & 0xff);
  await lun.write(2048, pattern);
  const back = await lun.read(2048, pattern.length / capacity.blockSize);
  const same = back.length === pattern.length && back.every((b, i) => b === pattern[i]);
  console.log("read back", same ? "identical" : "DIFFERENT");

  await session.logout();
  if (!same) process.exitCode = 1;
} finally {
  await target.close();
}
