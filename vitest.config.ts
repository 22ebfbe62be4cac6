import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", include: ["src/**/*.test.ts"], testTimeout: 20_000 } },
      {
        test: {
          name: "interop",
          include: ["test/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Live peers (tgtd, tshark) are machine-wide resources: run these files one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
