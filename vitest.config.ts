import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // 2 cores: a few files at a time; e2e files spawn real servers and clients
    poolOptions: { forks: { maxForks: 3, minForks: 1 } },
    reporters: ["default"],
  },
});
