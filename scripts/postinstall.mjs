// After `npm install`: generate both Prisma clients (SQLite and PostgreSQL).
// Skipped where the prisma CLI is absent (`npm ci --omit=dev` with a prebuilt dist/).
import { execSync } from "node:child_process";
import { createRequire } from "node:module";

try {
  createRequire(import.meta.url).resolve("prisma/package.json");
} catch {
  console.log("anvil: prisma CLI not installed, skipping client generation");
  process.exit(0);
}
execSync("npm run db:generate", { stdio: "inherit" });
