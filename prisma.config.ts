// Prisma CLI config for SQLite (the embedded default): generate, migrate diff|deploy|status.
// `engine: "js"` keeps the CLI on WASM engines, so nothing is downloaded.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { defineConfig } from "prisma/config";
import { PrismaBetterSQLite3 } from "@prisma/adapter-better-sqlite3";

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: path.join("prisma", "schema.prisma"),
  migrations: { path: path.join("prisma", "migrations", "sqlite") },
  // Used by migrate diff/deploy/status only; it opens (and creates) the database file.
  adapter: async () => {
    const fromEnv = process.env.DATABASE_URL;
    const url = fromEnv?.startsWith("file:") ? fromEnv : "file:./data/anvil.db";
    mkdirSync(path.dirname(url.slice("file:".length)), { recursive: true });
    return new PrismaBetterSQLite3({ url });
  },
});
