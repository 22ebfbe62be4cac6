/**
 * How the pool starts a worker. Node runs a worker's script as JavaScript; the library runs
 * from dist, where ./worker.js sits beside this module. Run from its TypeScript sources (vitest,
 * tsx), this module is entry.ts and there is no worker.js: the worker then starts from a few
 * lines that register tsx's loader in the worker thread and import worker.ts, so tests exercise
 * the sources they were given and never a stale build. (Node 20 applies neither a `--import tsx`
 * in the worker's execArgv nor the parent's loader to a worker's own script, hence the eval'd
 * bootstrap.)
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

export interface WorkerEntry {
  readonly script: string | URL;
  readonly eval: boolean;
}

/** Options of the main script that a worker cannot take (its own script is a file or the bootstrap), each with whether a value follows. */
const MAIN_SCRIPT_OPTIONS = new Map([
  ["--input-type", true],
  ["-e", true],
  ["--eval", true],
  ["-p", true],
  ["--print", true],
  ["-i", false],
  ["--interactive", false],
  ["-c", false],
  ["--check", false],
]);

/**
 * The parent's Node options for a worker: a worker inherits them, and Node refuses to start one
 * that inherits the main script's own (`node --input-type=module -e ...` would end every
 * worker with ERR_INPUT_TYPE_NOT_ALLOWED). The rest (a loader, --cpu-prof, memory flags) stays.
 */
export function workerExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i] as string;
    const name = arg.startsWith("--") && arg.includes("=") ? arg.slice(0, arg.indexOf("=")) : arg;
    const takesValue = MAIN_SCRIPT_OPTIONS.get(name);
    if (takesValue === undefined) kept.push(arg);
    else if (takesValue && name === arg) i++;
  }
  return kept;
}

export function workerEntry(): WorkerEntry {
  const self = import.meta.url;
  if (self.endsWith(".js")) return { script: new URL("./worker.js", self), eval: false };
  return { script: typeScriptBootstrap(new URL("./worker.ts", self).href, "() => undefined"), eval: true };
}

/**
 * A worker script (to run with `eval: true`) that registers tsx's loader in the worker thread,
 * imports the TypeScript module at `moduleUrl` and passes it to `then` (JavaScript source of a
 * function of the module).
 */
export function typeScriptBootstrap(moduleUrl: string, then: string): string {
  const tsx = pathToFileURL(tsxEsmApi(import.meta.url)).href;
  return `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(moduleUrl)}); }).then(${then});`;
}

/** tsx's ESM API module (require.resolve would name its CommonJS twin, which cannot register the ESM hooks). */
function tsxEsmApi(from: string): string {
  const require = createRequire(from);
  const manifest = require.resolve("tsx/package.json");
  const exports = (require(manifest) as { exports: Record<string, { import: { default: string } }> }).exports;
  const target = exports["./esm/api"]?.import.default;
  if (target === undefined) throw new Error("tsx has no ./esm/api export: the worker pool cannot run from TypeScript sources without it (build and run from dist)");
  return join(dirname(manifest), target);
}
