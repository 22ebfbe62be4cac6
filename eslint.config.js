// @ts-check
import tseslint from "typescript-eslint";

/**
 * What the protocol core and the client above it may not touch: the core is driven by bytes in,
 * bytes out and time passed in; the client reaches its host (sockets, timers, clock, deferral)
 * only through the ClientHost interface (src/client/host.ts), so each host stays a page of code.
 */
const HOST_LAYERS = ["node", "cli", "target", "bun", "deno", "browser", "gateway", "web", "service", "perf", "bench", "faults"];
const corePurityGlobals = [
  { name: "Buffer", message: "Use Uint8Array in src/core and src/client." },
  { name: "process", message: "src/core and src/client have no process." },
  { name: "setTimeout", message: "src/core and src/client own no timers: the core takes time in handleTimeout(now); the client asks ClientHost.setTimer." },
  { name: "setInterval", message: "src/core and src/client own no timers." },
  { name: "setImmediate", message: "src/core and src/client own no timers." },
  { name: "clearTimeout", message: "src/core and src/client own no timers." },
  { name: "clearInterval", message: "src/core and src/client own no timers." },
  { name: "queueMicrotask", message: "src/core schedules nothing; src/client defers through ClientHost.defer." },
  { name: "performance", message: "src/core and src/client read no clock: time is passed in (ClientHost.now for the client)." },
  { name: "crypto", message: "src/core and src/client take randomness and hashes injected." },
  { name: "require", message: "ESM only." },
];
/** Node's built-in modules by their bare names (the node: forms are caught by "node:*"). */
const NODE_BUILTINS = ["fs", "net", "crypto", "os", "timers", "events", "stream", "buffer", "util", "path", "child_process", "dgram", "dns", "tls", "http", "https", "worker_threads", "process"];
const corePurity = {
  "no-restricted-imports": ["error", {
    patterns: [
      { group: ["node:*"], message: "src/core and src/client are host-free: no node: imports." },
      { group: NODE_BUILTINS, message: "src/core and src/client are host-free: no Node built-ins." },
      {
        group: [...HOST_LAYERS, "client"].flatMap((layer) => [`../${layer}/*`, `../../${layer}/*`, `../../../${layer}/*`]),
        message: "src/core and src/client are host-free: they may not depend on a host or front end (and the core not on the client above it).",
      },
    ],
  }],
  "no-restricted-globals": ["error", ...corePurityGlobals],
  "no-restricted-properties": ["error",
    { object: "Date", property: "now", message: "src/core and src/client read no clock: time is passed in." },
    { object: "Math", property: "random", message: "src/core and src/client take randomness injected." },
  ],
  "no-restricted-syntax": ["error",
    { selector: "NewExpression[callee.name='Date']", message: "src/core and src/client read no clock." },
  ],
};

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "coverage/**", "bench/results/**", "scratch/**"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "no-console": "off",
    },
  },
  // Test utilities in the core are core code too (the pairs drive the real machines): only the
  // tests themselves may reach for node: (hashes, files).
  { files: ["src/core/**/*.ts"], ignores: ["src/core/**/*.test.ts"], rules: corePurity },
  // The NBD protocol engine is sans-I/O like the core: the same rules keep it so.
  { files: ["src/nbd/engine/**/*.ts"], ignores: ["src/nbd/engine/**/*.test.ts"], rules: corePurity },
  // The client is host-free like the core (its tests may use Node to build hosts).
  { files: ["src/client/**/*.ts"], ignores: ["src/client/**/*.test.ts"], rules: corePurity },
  // The browser host and the page run in a browser: no Node module may reach them (they use the
  // browser's own globals, so only the imports are restricted).
  {
    files: ["src/browser/**/*.ts", "src/web/**/*.ts"],
    ignores: ["src/browser/**/*.test.ts", "src/web/**/*.test.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [{ group: ["node:*", ...NODE_BUILTINS], message: "src/browser and src/web run in a browser: no Node modules." }] }] },
  },
  // The CLI is a user of the library like any other: it reaches it through its public entry
  // points only (node/index.js, core/index.js), never a module behind them.
  {
    files: ["src/cli/**/*.ts"],
    ignores: ["src/cli/**/*.test.ts", "src/cli/**/*.test-util.ts"],
    rules: {
      "no-restricted-imports": ["error", {
        patterns: [
          { group: ["**/node/*.js", "!**/node/index.js"], message: "The CLI uses the library's public entry point, node/index.js." },
          { group: ["**/client/**"], message: "The CLI uses the library's public entry point, node/index.js." },
          { group: ["**/core/**", "!**/core/index.js"], message: "The CLI uses the core's public entry point, core/index.js." },
        ],
      }],
    },
  },
);
