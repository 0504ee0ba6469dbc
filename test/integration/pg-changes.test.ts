// Several instances on one PostgreSQL database each cache accounts (read on every signed request). A
// change written through one instance must be what the others read as soon as the writer returns, and
// an instance whose LISTEN session breaks must stop trusting its cache until it listens again.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb, createStorage, migrate, type Database, type Storage } from "../../src/sa/index.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";

const onPostgres = process.env.ANVIL_TEST_DB === "postgres";

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

// runs in the "postgres" project only: the change feed is PostgreSQL's LISTEN/NOTIFY
describe.runIf(onPostgres)("account caches across instances (LISTEN/NOTIFY)", () => {
  let testDb: TestDatabase;
  let dir: string;
  let dbA: Database;
  let dbB: Database;
  let a: Storage;
  let b: Storage;
  let admin: pg.Client;

  beforeAll(async () => {
    testDb = await createTestDatabase("postgres");
    dir = mkdtempSync(join(tmpdir(), "anvil-changes-"));
    await migrate(testDb.url!);
    [dbA, dbB] = [await createDb(testDb.url!), await createDb(testDb.url!)];
    [a, b] = [createStorage(dbA), createStorage(dbB)];
    admin = new pg.Client({ connectionString: testDb.url });
    await admin.connect();
    await until(() => dbA.changes!.live() && dbB.changes!.live());
    await a.createAccount({ id: "acct1", keyId: "k1", jwk: { kty: "EC", crv: "P-256", x: "x", y: "y" }, contact: [], status: "valid", tosAgreed: true, createdAt: new Date() });
  });
  afterAll(async () => {
    await admin?.end();
    await dbA?.close();
    await dbB?.close();
    await testDb?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  // PostgreSQL signals every listening session at commit, and each session's backend forwards the
  // notification on its own schedule: B normally has it within a millisecond of A's echo, but not by
  // contract. So B must see the change within a bound (here 2 s), and without it B would never see it.
  const seenByB = (check: (a: Awaited<ReturnType<Storage["getAccount"]>>) => boolean) => until(async () => check(await b.getAccount("acct1")), 2000);

  it("a change through A reaches B's cache (which would otherwise keep serving the old row)", async () => {
    expect((await b.getAccount("acct1"))!.contact).toEqual([]); // cached at B now
    // a write behind every cache's back shows that B does answer from its cache
    await admin.query(`UPDATE "Account" SET "contact" = '["mailto:behind@example.org"]' WHERE "id" = 'acct1'`);
    expect((await b.getAccount("acct1"))!.contact).toEqual([]);
    expect(await a.updateAccount("acct1", { contact: ["mailto:new@example.org"] })).toBe(true);
    await seenByB((a) => a!.contact[0] === "mailto:new@example.org");
    expect(await a.changeAccountKey("acct1", "k1", "k2", { kty: "EC", crv: "P-256", x: "x2", y: "y2" })).toBe(true);
    await seenByB((a) => a!.keyId === "k2");
    expect(await a.updateAccount("acct1", { status: "deactivated" })).toBe(true);
    await seenByB((a) => a!.status === "deactivated");
  });

  it("while B's LISTEN session is down B reads the database, and it caches again once back", async () => {
    await admin.query(`INSERT INTO "Account" ("id", "keyId", "jwk", "contact", "status", "tosAgreed", "createdAt") VALUES ('acct2', 'k3', '{}', '[]', 'valid', true, now())`);
    expect((await b.getAccount("acct2"))!.status).toBe("valid");
    const killed = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'`);
    expect(killed.rowCount).toBe(2); // A's and B's listening sessions
    await until(() => !dbB.changes!.live());
    // changed with no notification at all: B must see it, since it cannot know what it missed
    await admin.query(`UPDATE "Account" SET "status" = 'deactivated' WHERE "id" = 'acct2'`);
    expect((await b.getAccount("acct2"))!.status).toBe("deactivated");
    await until(() => dbB.changes!.live()); // reconnects by itself
    await admin.query(`UPDATE "Account" SET "status" = 'valid' WHERE "id" = 'acct2'`);
    expect((await b.getAccount("acct2"))!.status).toBe("valid"); // read fresh: the cache started empty
  });
});
