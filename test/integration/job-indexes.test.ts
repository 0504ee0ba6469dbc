// The durable-job scans (validation: challenges "processing"; finalize: orders "processing") and the
// reuse look-up (valid authorizations) read partial indexes that hold only the rows they look for
// (migration 20261128234256_partial_job_indexes). A partial index is used only when the query's WHERE
// implies the index's; on PostgreSQL a prepared statement's generic plan knows no parameter's value, so
// the status must be written out in the SQL, or the scan reads the whole table, every second, on a
// database of millions of rows. So: the very statements Storage sends are captured, and their plans
// (PostgreSQL: the generic plan) must name the partial index.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb, createStorage, migrate, type Database as AnvilDatabase, type Storage } from "../../src/sa/index.js";
import type { Param } from "../../src/sa/db/sql.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";

const kinds = process.env.ANVIL_TEST_DB === "postgres" ? (["postgres"] as const) : (["sqlite"] as const);

describe.each(kinds)("job scans and reuse read their partial indexes (%s)", (kind) => {
  let testDb: TestDatabase;
  let dir: string;
  let url: string;
  let db: AnvilDatabase;
  let sa: Storage;
  const sent: Array<[string, Param[]]> = [];

  beforeAll(async () => {
    testDb = await createTestDatabase(kind);
    dir = mkdtempSync(join(tmpdir(), "anvil-jobidx-"));
    url = testDb.url ?? `file:${join(dir, "anvil.db")}`;
    await migrate(url);
    db = await createDb(url);
    const { sql } = db;
    const record = (text: string, params: Param[] = []) => void sent.push([text, params]);
    const spy = {
      ...sql,
      all: <T,>(text: string, params?: Param[]) => (record(text, params), sql.all<T>(text, params)),
      run: (text: string, params?: Param[]) => (record(text, params), sql.run(text, params)),
    };
    sa = createStorage({ ...db, sql: spy });
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The statements one Storage call sends. */
  async function statementsOf(call: () => Promise<unknown>): Promise<Array<[string, Param[]]>> {
    sent.length = 0;
    await call();
    expect(sent.length).toBeGreaterThan(0);
    return [...sent];
  }

  async function plan(text: string, params: Param[], opts: { seqscan?: boolean } = {}): Promise<string> {
    const bind = params.map((v) => (v instanceof Date ? v.toISOString() : typeof v === "boolean" ? Number(v) : (v ?? null)));
    if (kind === "sqlite") {
      const file = new Database(url.slice("file:".length));
      try {
        return (file.prepare(`EXPLAIN QUERY PLAN ${text}`).all(...bind) as { detail: string }[]).map((r) => r.detail).join("\n");
      } finally {
        file.close();
      }
    }
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      if (!opts.seqscan) await c.query("SET enable_seqscan = off"); // a handful of rows: a sequential scan would win on cost alone
      // the plan a named statement settles on after five runs (sql.ts prepares each text once per
      // connection): generic, made without the values, so a status passed as a parameter cannot use the index
      await c.query("SET plan_cache_mode = force_generic_plan");
      let n = 0;
      await c.query(`PREPARE q AS ${text.replace(/\?/g, () => `$${++n}`)}`);
      const args = bind.map((v) => (v === null ? "NULL" : typeof v === "number" ? String(v) : c.escapeLiteral(String(v))));
      const r = await c.query(`EXPLAIN EXECUTE q${args.length ? `(${args.join(", ")})` : ""}`);
      return r.rows.map((row: Record<string, string>) => row["QUERY PLAN"]).join("\n");
    } finally {
      await c.end();
    }
  }

  const cases: Array<[string, string, () => Promise<unknown>]> = [
    ["the validation-job claim", "Challenge_processing_runAfter_idx", () => sa.claimDueChallengeJobs(new Date(), new Date(Date.now() + 10_000), 8)],
    ["the validation queue's depth (metrics)", "Challenge_processing_runAfter_idx", () => sa.countChallengeJobs()],
    ["the finalize-job scan", "Order_processing_lockedUntil_idx", () => sa.dueFinalizeJobs(new Date(), 20)],
    ["the reuse look-up", "Authorization_valid_lookup_idx", () => sa.findValidAuthzs("acct", [{ type: "dns", value: "a.test" }, { type: "ip", value: "192.0.2.1" }], new Date())],
  ];

  it.each(cases)("%s reads %s, never the whole table", async (_what, index, call) => {
    const statements = await statementsOf(call);
    const plans = await Promise.all(statements.map(([text, params]) => plan(text, params)));
    const all = plans.join("\n");
    expect(all).toContain(index);
    if (kind === "sqlite") expect(all).not.toMatch(/^SCAN (?!.*USING)/m); // a SCAN line without an index is the whole table
    else expect(all).not.toMatch(/Seq Scan/);
  });

  /** 32 accounts and 430 authorizations (one in ten pending), ids prefixed `${p}-`: a young server's tables (PostgreSQL). */
  async function smallTables(p: string) {
    await db.sql.run(`INSERT INTO "Account" ("id", "keyId", "jwk", "contact", "status", "tosAgreed", "createdAt")
      SELECT '${p}-acct-' || i, '${p}-k-' || i, '{}', '[]', 'valid', true, now() FROM generate_series(1, 32) i`);
    await db.sql.run(`INSERT INTO "Authorization" ("id", "accountId", "identifierType", "identifierValue", "wildcard", "status", "expires", "createdAt")
      SELECT '${p}-authz-' || i, '${p}-acct-' || (1 + i % 32), 'dns', '${p}' || i || '.example', false,
        CASE WHEN i % 10 = 0 THEN 'pending' ELSE 'valid' END, now() + interval '1 day', now() FROM generate_series(1, 430) i`);
  }

  it("a challenge answer reaches its authorization by primary key, whatever the statistics (no scan of a whole table)", async () => {
    if (kind === "sqlite") return; // SQLite plans each statement as it runs; a PostgreSQL generic plan outlives its statistics
    // Statistics taken while the tables were small (430 authorizations of 32 accounts), as a fresh server's first
    // ANALYZE sees them, and the planner free to choose a sequential scan: the answer's guarded UPDATE must still
    // reach the authorization through its primary key. A plan that filters a scan of the whole table by account
    // and status looks cheap at that size, and stays cached while the table grows until the next ANALYZE.
    await smallTables("plan");
    await db.sql.run(`INSERT INTO "Challenge" ("id", "authzId", "type", "token", "status", "attempts")
      SELECT 'plan-ch-' || i || '-' || t, 'plan-authz-' || i, t, 'tok-' || i || '-' || t, 'pending', 0
        FROM generate_series(1, 430) i, unnest(ARRAY['http-01', 'dns-01', 'tls-alpn-01']) t`);
    await db.sql.run(`ANALYZE "Authorization"`);
    await db.sql.run(`ANALYZE "Challenge"`);
    const now = new Date();
    const statements = await statementsOf(() => sa.startChallengeFor("plan-ch-10-http-01", "plan-acct-11", now, undefined));
    const plans = (await Promise.all(statements.map(([text, params]) => plan(text, params, { seqscan: true })))).join("\n");
    expect(plans).toContain("Authorization_pkey");
    expect(plans).not.toMatch(/Seq Scan on "(Authorization|Challenge)"/);
  });

  it("a finalize's claim reaches the order and its authorizations by key, whatever the statistics", async () => {
    if (kind === "sqlite") return; // as above: only a PostgreSQL generic plan outlives the statistics it was made from
    // small-table statistics again (430 orders of 32 accounts, one authorization each), the planner free to scan
    await smallTables("fin");
    await db.sql.run(`INSERT INTO "Order" ("id", "accountId", "status", "expires", "identifiers", "createdAt")
      SELECT 'fin-order-' || i, 'fin-acct-' || (1 + i % 32), CASE WHEN i % 3 = 0 THEN 'valid' ELSE 'pending' END,
        now() + interval '7 days', jsonb_build_array(jsonb_build_object('type', 'dns', 'value', 'fin' || i || '.example')), now()
        FROM generate_series(1, 430) i`);
    await db.sql.run(`INSERT INTO "OrderAuthz" ("orderId", "authzId", "position") SELECT 'fin-order-' || i, 'fin-authz-' || i, 0 FROM generate_series(1, 430) i`);
    for (const t of ["Account", "Authorization", "Order", "OrderAuthz"]) await db.sql.run(`ANALYZE "${t}"`);
    const now = new Date();
    const statements = await statementsOf(() => sa.claimFinalize("fin-order-11", "fin-acct-12", new Uint8Array([1]), now, new Date(now.getTime() + 10_000)));
    const plans = (await Promise.all(statements.map(([text, params]) => plan(text, params, { seqscan: true })))).join("\n");
    expect(plans).toContain("Order_pkey");
    expect(plans).toContain("OrderAuthz_pkey");
    expect(plans).not.toMatch(/Seq Scan on "(Order|OrderAuthz|Authorization|Challenge)"/);
  });
});
