// Prisma CLI config for PostgreSQL: prisma <cmd> --config prisma.postgres.config.ts
import path from "node:path";
import { defineConfig } from "prisma/config";
import { PrismaPg } from "@prisma/adapter-pg";

async function adapter() {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error("DATABASE_URL is not set");
  // Discrete fields, not a connectionString: the CLI derives a shadow database by spreading
  // { ...config, database }, which a connectionString would silently override.
  const u = new URL(url);
  const factory = new PrismaPg({
    host: u.hostname,
    port: Number(u.port || 5432),
    database: u.pathname.slice(1),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
  });
  // prisma/orm#27403: the JS schema engine reads pg_catalog columns of type `name` (oid 19), which
  // adapter-pg 6.19 cannot deserialize. Report them as text (25) and name[] as text[] (1009).
  const conn = await factory.connect();
  const queryable = Object.getPrototypeOf(Object.getPrototypeOf(conn));
  await conn.dispose();
  if (!queryable.__anvilNameAsText) {
    const original = queryable.performIO;
    queryable.performIO = async function (this: unknown, query: unknown) {
      const result = await original.call(this, query);
      for (const field of result.fields) {
        if (field.dataTypeID === 19) field.dataTypeID = 25;
        else if (field.dataTypeID === 1003) field.dataTypeID = 1009;
      }
      return result;
    };
    queryable.__anvilNameAsText = true;
  }
  return factory;
}

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: path.join("prisma", "postgres", "schema.prisma"),
  migrations: { path: path.join("prisma", "migrations", "postgres") },
  adapter,
});
