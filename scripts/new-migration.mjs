// Usage: DATABASE_URL=postgresql://... node scripts/new-migration.mjs <snake_case_name>
// Diffs the schema snapshot of the last migration against prisma/schema.prisma for each provider and
// writes prisma/migrations/{sqlite,postgres}/<stamp>_<name>/migration.sql (no shadow database needed).
// The PostgreSQL diff needs any reachable PostgreSQL: the JS schema engine connects even for a pure diff.
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";

const name = process.argv[2] ?? "";
if (!/^[a-z0-9_]+$/.test(name)) throw new Error("usage: new-migration.mjs <snake_case_name>");
if (!process.env.DATABASE_URL?.startsWith("postgres")) throw new Error("DATABASE_URL must name a reachable PostgreSQL");
execFileSync("node", ["scripts/derive-schema.mjs"], { stdio: "inherit" });
const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
const providers = [
  ["sqlite", "prisma/schema.prisma", "prisma.config.ts"],
  ["postgresql", "prisma/postgres/schema.prisma", "prisma.postgres.config.ts"],
];
for (const [provider, schema, config] of providers) {
  const dir = `prisma/migrations/${provider === "sqlite" ? "sqlite" : "postgres"}`;
  const snapshot = `${dir}/schema.snapshot.prisma`;
  const from = existsSync(snapshot) ? ["--from-schema-datamodel", snapshot] : ["--from-empty"];
  const args = ["prisma", "migrate", "diff", "--config", config, ...from, "--to-schema-datamodel", schema, "--script"];
  const sql = execFileSync("npx", args, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (sql.includes("This is an empty migration")) {
    console.log(`${provider}: no changes`);
    continue;
  }
  mkdirSync(`${dir}/${stamp}_${name}`, { recursive: true });
  writeFileSync(`${dir}/${stamp}_${name}/migration.sql`, sql);
  writeFileSync(`${dir}/migration_lock.toml`, `provider = "${provider}"\n`);
  copyFileSync(schema, snapshot);
  console.log(`${provider}: ${dir}/${stamp}_${name}/migration.sql`);
}
