#!/usr/bin/env node
/**
 * Builds the web page into dist/web: src/web/app.ts bundled by esbuild for browsers (with the
 * client, src/browser, and the parts of the core it uses), beside index.html, style.css and the
 * icon. `iscsi gateway` serves that folder.
 *
 * The bundle must not reach for Node: any node: import (or a bare Node built-in) fails the build
 * with the importer named, so a Node dependency creeping into src/client or src/core is caught here.
 */
import { build } from "esbuild";
import { copyFile, mkdir, rm, stat } from "node:fs/promises";
import { builtinModules } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "src/web");
const out = join(root, "dist/web");
const STATIC = ["index.html", "style.css", "favicon.svg"];

const nodeBuiltins = new Set(builtinModules);

/** Fails on node:x and on bare Node built-ins ("fs", "net", ...), naming who imports them. */
const noNode = {
  name: "no-node",
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      const name = args.path;
      if (name.startsWith("node:") || nodeBuiltins.has(name)) {
        const who = relative(root, args.importer);
        return { errors: [{ text: `${who} imports ${name}: the web page runs in a browser, which has no Node modules` }] };
      }
      return undefined;
    });
  },
};

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
const result = await build({
  entryPoints: [join(source, "app.ts")],
  outfile: join(out, "app.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["chrome111", "firefox111", "safari16.4"],
  minify: true,
  sourcemap: "linked",
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
  plugins: [noNode],
});
for (const file of STATIC) await copyFile(join(source, file), join(out, file));

const bundle = (await stat(join(out, "app.js"))).size;
const inputs = Object.keys(result.metafile.inputs).length;
console.log(`dist/web: app.js ${(bundle / 1024).toFixed(0)} KiB from ${inputs} modules, ${STATIC.join(", ")}`);
