// Fills an Anvil database quickly for the "flat with size" measurement: raw SQL through better-sqlite3
// or pg, in batches inside transactions, with rows shaped exactly as Anvil writes them (prisma/schema.prisma;
// on SQLite DateTime is ISO-8601 TEXT "2026-01-02T03:04:05.678+00:00", Boolean is 0/1, Json is TEXT).
// Per certificate: one valid order, one valid authorization with its three challenges (http-01 valid,
// dns-01 and tls-alpn-01 pending), the order↔authz link and the certificate; one account per
// --certs-per-account certificates. Dates spread over the last 180 days, so about half are expired.
// `npm run bench -- seed --data-dir DIR [--certificates 1000000]` (or `tsx bench/seed.ts ...`)
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import pg from "pg";
import { MAIN_JS } from "./servers.js";

type Value = string | number | boolean | Buffer | null;
type Row = Value[];
type Kind = "text" | "json" | "bool" | "int" | "date" | "bytes";

/** Tables in insertion order (parents first), columns in schema order with their kinds. */
const TABLES: Record<string, Array<[string, Kind]>> = {
  Account: [["id", "text"], ["keyId", "text"], ["jwk", "text"], ["contact", "json"], ["status", "text"], ["tosAgreed", "bool"], ["eabKid", "text"], ["createdAt", "date"]],
  Order: [["id", "text"], ["accountId", "text"], ["status", "text"], ["expires", "date"], ["identifiers", "json"], ["notBefore", "date"], ["notAfter", "date"], ["profile", "text"], ["error", "json"], ["csr", "bytes"], ["lockedUntil", "date"], ["createdAt", "date"]],
  Authorization: [["id", "text"], ["accountId", "text"], ["identifierType", "text"], ["identifierValue", "text"], ["wildcard", "bool"], ["status", "text"], ["expires", "date"], ["createdAt", "date"]],
  OrderAuthz: [["orderId", "text"], ["authzId", "text"], ["position", "int"]],
  Challenge: [["id", "text"], ["authzId", "text"], ["type", "text"], ["token", "text"], ["status", "text"], ["validated", "date"], ["error", "json"], ["validationRecord", "json"], ["attempts", "int"], ["runAfter", "date"], ["lockedUntil", "date"]],
  Certificate: [["id", "text"], ["serial", "text"], ["accountId", "text"], ["orderId", "text"], ["der", "bytes"], ["issuer", "text"], ["identifiers", "json"], ["notBefore", "date"], ["notAfter", "date"], ["status", "text"], ["revokedAt", "date"], ["revokedReason", "int"], ["createdAt", "date"]],
};
type Batch = Record<keyof typeof TABLES, Row[]>;

const DAY = 86_400_000;
/** Prisma's SQLite DateTime text; PostgreSQL's timestamp(3) takes the same string (the zone is ignored). */
const iso = (ms: number) => new Date(ms).toISOString().replace("Z", "+00:00");

/** Random base64url strings from one buffer per batch (randomBytes per id is the slow part otherwise). */
class Ids {
  private buf = Buffer.alloc(0);
  private off = 0;
  take(bytes: number): Buffer {
    if (this.off + bytes > this.buf.length) (this.buf = randomBytes(1 << 20)), (this.off = 0);
    return this.buf.subarray(this.off, (this.off += bytes));
  }
  id = () => this.take(16).toString("base64url"); // core/ids newId
  token = () => this.take(32).toString("base64url"); // newToken
  hex = (n: number) => this.take(n).toString("hex");
}

export interface SeedOptions {
  certificates: number;
  certsPerAccount: number;
  batch: number;
  issuerId: string;
  der: Buffer; // the certificate bytes stored in every row (a real DER of typical size)
  now: number;
}

function* batches(o: SeedOptions): Generator<Batch> {
  const ids = new Ids();
  let accounts: string[] = [];
  for (let start = 0; start < o.certificates; start += o.batch) {
    const b: Batch = { Account: [], Order: [], Authorization: [], OrderAuthz: [], Challenge: [], Certificate: [] };
    for (let i = start; i < Math.min(o.certificates, start + o.batch); i++) {
      const created = o.now - Math.floor(Math.random() * 180 * DAY);
      if (i % o.certsPerAccount === 0) {
        const jwk = JSON.stringify({ kty: "EC", crv: "P-256", x: ids.take(32).toString("base64url"), y: ids.take(32).toString("base64url") });
        const account = [ids.id(), ids.take(32).toString("base64url"), jwk, "[]", "valid", true, null, iso(created - 180 * DAY)];
        b.Account.push(account);
        accounts = [account[0] as string];
      }
      const accountId = accounts[0];
      const name = `${ids.hex(6)}.seed.test`;
      const identifiers = JSON.stringify([{ type: "dns", value: name }]);
      const [orderId, authzId] = [ids.id(), ids.id()];
      const validated = created + 300;
      b.Order.push([orderId, accountId, "valid", iso(created + 7 * DAY), identifiers, null, null, null, null, ids.take(300), null, iso(created)]);
      b.Authorization.push([authzId, accountId, "dns", name, false, "valid", iso(validated + 30 * DAY), iso(created)]);
      b.OrderAuthz.push([orderId, authzId, 0]);
      const token = ids.token();
      const record = JSON.stringify([{ url: `http://${name}/.well-known/acme-challenge/${token}`, hostname: name, port: "80", addressesResolved: ["127.0.0.1"], addressUsed: "127.0.0.1" }]);
      b.Challenge.push([ids.id(), authzId, "dns-01", ids.token(), "pending", null, null, null, 0, null, null]);
      b.Challenge.push([ids.id(), authzId, "http-01", token, "valid", iso(validated), null, record, 1, iso(created + 200), null]);
      b.Challenge.push([ids.id(), authzId, "tls-alpn-01", ids.token(), "pending", null, null, null, 0, null, null]);
      const notBefore = validated - 60_000;
      const revoked = i % 100 === 99; // 1% revoked
      const serial = BigInt(`0x01${ids.hex(16)}`).toString(16); // issuance newSerial, stored canonical
      b.Certificate.push([ids.id(), serial, accountId, orderId, o.der, o.issuerId, identifiers, iso(notBefore), iso(notBefore + 90 * DAY), revoked ? "revoked" : "valid", revoked ? iso(validated + DAY) : null, revoked ? 1 : null, iso(validated + 500)]);
    }
    yield b;
  }
}

function sqliteValue(v: Value): string | number | Buffer | null {
  return typeof v === "boolean" ? (v ? 1 : 0) : v;
}

async function seedSqlite(file: string, o: SeedOptions, progress: (n: number) => void): Promise<void> {
  const db = new Database(file);
  // a throw-away benchmark database: speed over durability while filling it
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = OFF");
  db.pragma("cache_size = -1000000");
  db.pragma("foreign_keys = OFF");
  const insert = Object.fromEntries(
    Object.entries(TABLES).map(([t, cols]) => [t, db.prepare(`INSERT INTO "${t}" (${cols.map(([c]) => `"${c}"`).join(", ")}) VALUES (${cols.map(() => "?").join(", ")})`)]),
  );
  const write = db.transaction((b: Batch) => {
    for (const t of Object.keys(TABLES)) for (const row of b[t]) insert[t].run(row.map(sqliteValue));
  });
  let n = 0;
  for (const b of batches(o)) {
    write(b);
    progress((n += b.Certificate.length));
  }
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
}

const PG_TYPE: Record<Kind, string> = { text: "text", json: "jsonb", bool: "boolean", int: "integer", date: "timestamp(3)", bytes: "bytea" };

async function seedPg(url: string, o: SeedOptions, progress: (n: number) => void): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("SET synchronous_commit = off");
    let n = 0;
    for (const b of batches(o)) {
      await client.query("BEGIN");
      for (const [t, cols] of Object.entries(TABLES)) {
        const rows = b[t];
        if (rows.length === 0) continue;
        // one statement per table and batch: a column array per parameter, unnest() makes the rows
        const params = cols.map((_, i) => rows.map((r) => r[i]));
        const sql = `INSERT INTO "${t}" (${cols.map(([c]) => `"${c}"`).join(", ")}) SELECT * FROM unnest(${cols.map(([, k], i) => `$${i + 1}::${PG_TYPE[k]}[]`).join(", ")})`;
        await client.query(sql, params);
      }
      await client.query("COMMIT");
      progress((n += b.Certificate.length));
    }
    await client.query("ANALYZE");
  } finally {
    await client.end();
  }
}

/** Applies Anvil's migrations (creates the database) with the built server's own migrator. */
function migrate(dataDir: string, databaseUrl?: string): void {
  const env = { ...process.env, ANVIL_DATA_DIR: dataDir, ANVIL_LOG_LEVEL: "warn", ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) };
  const r = spawnSync(process.execPath, [MAIN_JS, "migrate"], { env, cwd: dataDir, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`anvil migrate failed:\n${r.stdout}${r.stderr}`);
}

/** The issuer id Anvil gives its intermediate (sha256 of the DER, first 8 bytes) and that DER. */
function issuerOf(dataDir: string): { id: string; der: Buffer } {
  const pem = join(dataDir, "ca", "intermediate.pem");
  if (!existsSync(pem)) return { id: "seed", der: randomBytes(530) };
  const der = Buffer.from(readFileSync(pem, "utf8").replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
  return { id: createHash("sha256").update(der).digest().subarray(0, 8).toString("hex"), der };
}

export async function seed(opts: { dataDir: string; databaseUrl?: string; certificates: number; certsPerAccount?: number; batch?: number; quiet?: boolean }): Promise<{ seconds: number }> {
  migrate(opts.dataDir, opts.databaseUrl);
  const issuer = issuerOf(opts.dataDir);
  const o: SeedOptions = {
    certificates: opts.certificates,
    certsPerAccount: opts.certsPerAccount ?? 10,
    batch: opts.batch ?? 10_000,
    issuerId: issuer.id,
    der: issuer.der,
    now: Date.now(),
  };
  const t0 = performance.now();
  let last = 0;
  const progress = (n: number) => {
    if (opts.quiet || (n - last < 100_000 && n < o.certificates)) return;
    last = n;
    const s = (performance.now() - t0) / 1000;
    process.stderr.write(`seed: ${n} certificates in ${s.toFixed(0)} s (${Math.round(n / s)}/s)\n`);
  };
  const url = opts.databaseUrl;
  if (url && /^postgres(ql)?:\/\//.test(url)) await seedPg(url, o, progress);
  else await seedSqlite(url ? url.replace(/^file:/, "") : join(opts.dataDir, "anvil.db"), o, progress);
  return { seconds: (performance.now() - t0) / 1000 };
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      "data-dir": { type: "string" },
      "database-url": { type: "string" },
      certificates: { type: "string", default: "1000000" },
      "certs-per-account": { type: "string", default: "10" },
      batch: { type: "string", default: "10000" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || !values["data-dir"]) {
    console.log(`Usage: npm run bench -- seed --data-dir DIR [--database-url URL] [--certificates 1000000]
  [--certs-per-account 10] [--batch 10000]
Applies Anvil's migrations to the database (SQLite DIR/anvil.db unless --database-url), then adds the rows.`);
    if (!values.help) process.exitCode = 2;
    return;
  }
  const { seconds } = await seed({
    dataDir: values["data-dir"],
    databaseUrl: values["database-url"],
    certificates: Number(values.certificates),
    certsPerAccount: Number(values["certs-per-account"]),
    batch: Number(values.batch),
  });
  console.log(`seeded ${values.certificates} certificates in ${seconds.toFixed(1)} s`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
