// @ts-check
import tseslint from "typescript-eslint";

/** What the protocol core may not touch: it is driven by bytes in, bytes out and time passed in. */
const corePurity = {
  "no-restricted-imports": ["error", {
    patterns: [
      { group: ["node:*"], message: "src/core is host-free: no node: imports." },
      { group: ["fs", "net", "crypto", "os", "timers", "events", "stream", "buffer", "util", "path", "child_process", "dgram", "dns", "tls", "http", "https", "worker_threads", "process"], message: "src/core is host-free: no Node built-ins." },
      { group: ["../node/*", "../../node/*", "../../../node/*", "../cli/*", "../../cli/*", "../target/*", "../../target/*"], message: "src/core may not depend on host layers." },
    ],
  }],
  "no-restricted-globals": ["error",
    { name: "Buffer", message: "Use Uint8Array in src/core." },
    { name: "process", message: "src/core has no process." },
    { name: "setTimeout", message: "src/core owns no timers: take time in handleTimeout(now)." },
    { name: "setInterval", message: "src/core owns no timers." },
    { name: "setImmediate", message: "src/core owns no timers." },
    { name: "clearTimeout", message: "src/core owns no timers." },
    { name: "clearInterval", message: "src/core owns no timers." },
    { name: "queueMicrotask", message: "src/core schedules nothing." },
    { name: "performance", message: "src/core reads no clock: time is passed in." },
    { name: "crypto", message: "src/core takes randomness and hashes injected." },
    { name: "require", message: "ESM only." },
  ],
  "no-restricted-properties": ["error",
    { object: "Date", property: "now", message: "src/core reads no clock: time is passed in." },
    { object: "Math", property: "random", message: "src/core takes randomness injected." },
  ],
  "no-restricted-syntax": ["error",
    { selector: "NewExpression[callee.name='Date']", message: "src/core reads no clock." },
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
);
