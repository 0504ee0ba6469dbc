// The hot path writes and reads rows with hand-written SQL (src/sa/db/sql.ts) while Prisma writes and
// reads the same tables elsewhere. Both must agree on every stored form — dates (SQLite compares them
// as text), booleans, JSON, bytes — whatever the process's time zone, and the SQL's transactions must
// be all-or-nothing and never interleave with Prisma's on SQLite's single connection.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb, createStorage, migrate, type Database, type Storage } from "../../src/sa/index.js";
import { createTestDatabase, type TestDatabase } from "../helpers/db.js";

const kinds = process.env.ANVIL_TEST_DB === "postgres" ? (["postgres"] as const) : (["sqlite"] as const);

describe.each(kinds)("hand-written SQL and Prisma agree (%s)", (kind) => {
  let testDb: TestDatabase;
  let dir: string;
  let db: Database;
  let sa: Storage;
  const savedTz = process.env.TZ;

  beforeAll(async () => {
    // a zone far from UTC: a driver that sent or read local time would shift every date by hours
    process.env.TZ = "Pacific/Chatham";
    testDb = await createTestDatabase(kind);
    dir = mkdtempSync(join(tmpdir(), "anvil-sql-"));
    const url = testDb.url ?? `file:${join(dir, "anvil.db")}`;
    await migrate(url);
    db = await createDb(url);
    sa = createStorage(db);
    await db.prisma.account.create({
      data: { id: "acct1", keyId: "k1", jwk: JSON.stringify({ kty: "EC" }), contact: ["mailto:a@example.org"], status: "valid", tosAgreed: true, createdAt: new Date("2026-01-02T03:04:05.678Z") },
    });
  });
  afterAll(async () => {
    process.env.TZ = savedTz;
    await db?.close();
    await testDb?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads a Prisma-written account exactly (dates, booleans, JSON)", async () => {
    const a = await sa.getAccount("acct1");
    expect(a).toMatchObject({ id: "acct1", keyId: "k1", jwk: { kty: "EC" }, contact: ["mailto:a@example.org"], status: "valid", tosAgreed: true });
    expect(a!.createdAt.toISOString()).toBe("2026-01-02T03:04:05.678Z");
  });

  it("writes an order that Prisma reads back identically, and that Prisma's date filters find", async () => {
    const expires = new Date("2026-03-04T05:06:07.089Z");
    await sa.createOrder({
      id: "order1",
      accountId: "acct1",
      expires,
      identifiers: [{ type: "dns", value: "a.example" }],
      notBefore: new Date("2026-03-01T00:00:00.000Z"),
      authzs: [{ id: "authz1", identifier: { type: "dns", value: "a.example" }, wildcard: true, expires, challenges: [{ id: "ch1", type: "http-01", token: "t1" }, { id: "ch2", type: "dns-01", token: "t2" }] }],
    });
    const order = await db.prisma.order.findUnique({ where: { id: "order1" }, include: { authzs: true } });
    expect(order!.expires.toISOString()).toBe(expires.toISOString());
    expect(order!.notBefore!.toISOString()).toBe("2026-03-01T00:00:00.000Z");
    expect(order!.notAfter).toBeNull();
    expect(order!.identifiers).toEqual([{ type: "dns", value: "a.example" }]);
    expect(order!.authzs).toEqual([{ orderId: "order1", authzId: "authz1", position: 0 }]);
    const authz = await db.prisma.authorization.findUnique({ where: { id: "authz1" }, include: { challenges: true } });
    expect(authz!.wildcard).toBe(true);
    expect(authz!.challenges.map((c) => [c.id, c.status, c.attempts, c.runAfter]).sort()).toEqual([["ch1", "pending", 0, null], ["ch2", "pending", 0, null]]);
    // Prisma's comparisons against the raw-written date: one millisecond either side
    const before = new Date(expires.getTime() - 1);
    const after = new Date(expires.getTime() + 1);
    expect(await db.prisma.order.count({ where: { id: "order1", expires: { gt: before, lt: after } } })).toBe(1);
    expect(await db.prisma.order.count({ where: { id: "order1", expires: { gt: expires } } })).toBe(0);
    // and the SQL's own comparisons against Prisma-written dates
    expect(await sa.nthNewestOrderTime("acct1", 1)).toBeInstanceOf(Date);
    expect(await sa.nthNewestOrderTime("acct1", 2)).toBeUndefined();
  });

  it("reads what Prisma changes, through the hand-written JOINs", async () => {
    const validUntil = new Date("2026-12-31T23:59:59.999Z");
    await db.prisma.authorization.update({ where: { id: "authz1" }, data: { status: "valid", expires: validUntil } });
    await db.prisma.challenge.update({ where: { id: "ch1" }, data: { status: "valid", validated: new Date("2026-03-02T00:00:00.001Z"), validationRecord: [{ url: "http://a.example/" }] } });
    const read = await sa.getOrderWithAuthzs("order1");
    expect(read!.order).toMatchObject({ id: "order1", status: "pending", authzIds: ["authz1"], identifiers: [{ type: "dns", value: "a.example" }] });
    const [authz] = read!.authzs;
    expect(authz).toMatchObject({ id: "authz1", status: "valid", wildcard: true, identifier: { type: "dns", value: "a.example" } });
    expect(authz!.expires.toISOString()).toBe(validUntil.toISOString());
    const ch1 = authz!.challenges.find((c) => c.id === "ch1")!;
    expect(ch1.validated!.toISOString()).toBe("2026-03-02T00:00:00.001Z");
    expect(ch1.validationRecord).toEqual([{ url: "http://a.example/" }]);
    // the reuse query compares the stored expiry with a parameter
    expect((await sa.findValidAuthzs("acct1", [{ type: "dns", value: "a.example" }], new Date(validUntil.getTime() - 1))).map((a) => a.id)).toEqual(["authz1"]);
    expect(await sa.findValidAuthzs("acct1", [{ type: "dns", value: "a.example" }], validUntil)).toEqual([]);
  });

  it("claims an order for finalize only if it is the account's, unexpired, and every authorization valid and unexpired", async () => {
    const now = new Date("2026-03-02T00:00:00.000Z");
    const lock = new Date("2026-03-02T00:00:10.000Z");
    const csr = new Uint8Array([1, 2, 3]);
    const orderExpires = (await sa.getOrder("order1"))!.expires;
    const claim = (at: Date, account = "acct1") => sa.claimFinalize("order1", account, csr, at, lock);
    const stored = async () => (await db.prisma.order.findUnique({ where: { id: "order1" }, select: { status: true, csr: true, lockedUntil: true } }))!;
    expect(await sa.claimFinalize("no-such-order", "acct1", csr, now, lock)).toBeUndefined();
    // refused: another account's; the order expired (one millisecond either side of the stored date, compared in SQL)
    expect(await claim(now, "acct2")).toMatchObject({ claimed: false, order: { id: "order1", status: "pending", accountId: "acct1" } });
    expect(await claim(orderExpires)).toMatchObject({ claimed: false });
    // refused: an authorization not valid, or expired
    await db.prisma.authorization.update({ where: { id: "authz1" }, data: { status: "pending" } });
    expect(await claim(now)).toMatchObject({ claimed: false });
    const validUntil = (await db.prisma.authorization.update({ where: { id: "authz1" }, data: { status: "valid", expires: now } })).expires;
    expect(await claim(now)).toMatchObject({ claimed: false });
    expect(await stored()).toEqual({ status: "pending", csr: null, lockedUntil: null });
    await db.prisma.authorization.update({ where: { id: "authz1" }, data: { expires: new Date("2026-12-31T23:59:59.999Z") } });
    expect(validUntil.toISOString()).toBe(now.toISOString());
    // claimed, one millisecond before the order's expiry: the order reads processing, with its authorizations
    const won = await claim(new Date(orderExpires.getTime() - 1));
    expect(won).toMatchObject({ claimed: true, order: { id: "order1", status: "processing", authzIds: ["authz1"] } });
    expect(won!.authzs.map((a) => [a.id, a.status])).toEqual([["authz1", "valid"]]);
    expect(await stored()).toMatchObject({ status: "processing", csr: csr, lockedUntil: lock });
    // exactly one wins
    expect(await claim(now)).toMatchObject({ claimed: false, order: { status: "processing" } });
    // a refused CSR releases it: ready again, the CSR and the lock gone
    expect(await sa.releaseFinalize("order1")).toBe(true);
    expect(await sa.releaseFinalize("order1")).toBe(false);
    expect(await stored()).toEqual({ status: "ready", csr: null, lockedUntil: null });
  });

  it("stores a certificate with its bytes; Prisma's revocation reads back through SQL", async () => {
    const claimed = await sa.claimFinalize("order1", "acct1", new Uint8Array([1, 2, 3]), new Date("2026-03-02T00:00:00.000Z"), new Date("2026-03-02T00:00:10.000Z"));
    expect(claimed?.claimed).toBe(true);
    expect(await sa.getOrderCsr("order1")).toEqual(new Uint8Array([1, 2, 3]));
    const der = new Uint8Array([0x30, 0x82, 0x00, 0xff, 0x00]);
    const stored = await sa.storeCertificate({
      id: "cert1", serial: "0a0b", accountId: "acct1", orderId: "order1", der, issuer: "i1",
      identifiers: [{ type: "dns", value: "a.example" }], notBefore: new Date("2026-03-02T00:00:00.000Z"), notAfter: new Date("2026-06-01T00:00:00.000Z"), status: "valid",
    });
    expect(stored).toBe(true);
    const row = await db.prisma.certificate.findUnique({ where: { id: "cert1" } });
    expect(Buffer.from(row!.der)).toEqual(Buffer.from(der));
    expect(row!.notAfter.toISOString()).toBe("2026-06-01T00:00:00.000Z");
    expect(row!.revokedAt).toBeNull();
    expect((await sa.getOrder("order1"))!).toMatchObject({ status: "valid", certificateId: "cert1" });
    expect(await sa.revokeCertificate("0a0b", 4, new Date("2026-04-01T12:00:00.500Z"))).toBe(true);
    const cert = await sa.getCertificateBySerial("0a0b");
    expect(cert).toMatchObject({ id: "cert1", status: "revoked", revokedReason: 4 });
    expect(cert!.revokedAt!.toISOString()).toBe("2026-04-01T12:00:00.500Z");
    expect(Buffer.from(cert!.der)).toEqual(Buffer.from(der));
  });

  it("nonce redemptions made together (batched): each nonce accepted once, a second use refused", async () => {
    const expires = new Date(Date.now() + 60_000);
    const results = await Promise.all(["n1", "n2", "n1", "n3"].map((n) => sa.markNonceRedeemed(n, expires)));
    // the two uses of n1 may travel in different statements on different connections: either may win, once
    expect([results[0], results[2]].sort()).toEqual([false, true]);
    expect([results[1], results[3]]).toEqual([true, true]);
    expect(await sa.markNonceRedeemed("n2", expires)).toBe(false);
    const rows = await db.prisma.redeemedNonce.findMany({ where: { nonce: { in: ["n1", "n2", "n3"] } }, orderBy: { nonce: "asc" } });
    expect(rows.map((r) => [r.nonce, r.expires.toISOString()])).toEqual(["n1", "n2", "n3"].map((n) => [n, expires.toISOString()]));
  });

  it("a transaction that fails stores nothing", async () => {
    await expect(
      db.sql.tx(async (q) => {
        await q.run(`INSERT INTO "Setting" ("key", "value", "createdAt") VALUES (?, ?, ?)`, ["tx-test", "x", new Date()]);
        await q.run(`INSERT INTO "Setting" ("key", "value", "createdAt") VALUES (?, ?, ?)`, ["tx-test", "again", new Date()]); // duplicate key
      }),
    ).rejects.toThrow();
    expect(await db.prisma.setting.findUnique({ where: { key: "tx-test" } })).toBeNull();
    // the connection is usable afterwards
    expect(await db.sql.all(`SELECT COUNT(*) AS "n" FROM "Setting" WHERE "key" = ?`, ["tx-test"])).toEqual([{ n: 0 }]);
  });

  it("a statement never sees or joins another transaction that is open", async () => {
    let inserted!: () => void;
    const insertedP = new Promise<void>((r) => (inserted = r));
    let finish!: () => void;
    const finishP = new Promise<void>((r) => (finish = r));
    const prismaTx = db.prisma.$transaction(async (tx) => {
      await tx.setting.create({ data: { key: "open-tx", value: "x", createdAt: new Date() } });
      inserted();
      await finishP;
      throw new Error("roll back");
    }, { timeout: 10_000 });
    await insertedP;
    const seen = db.sql.all<{ n: number }>(`SELECT COUNT(*) AS "n" FROM "Setting" WHERE "key" = ?`, ["open-tx"]);
    await new Promise((r) => setTimeout(r, 50));
    finish();
    await expect(prismaTx).rejects.toThrow("roll back");
    // the uncommitted row was never visible, and the statement did not run inside the rolled-back transaction
    expect((await seen).map((r) => Number(r.n))).toEqual([0]);
    expect(await db.prisma.setting.findUnique({ where: { key: "open-tx" } })).toBeNull();
  });
  it("confirmDurable writes a row again as it is, on the main pool (PostgreSQL: a commit that waits for the disk)", async () => {
    const row = (table: string, id: string) => db.sql.all<Record<string, unknown>>(`SELECT * FROM "${table}" WHERE "id" = ?`, [id]);
    const version = async (table: string, id: string) =>
      kind === "postgres" ? (await db.sql.all<{ v: string }>(`SELECT xmin::text AS "v" FROM "${table}" WHERE "id" = ?`, [id]))[0]!.v : "n/a";
    for (const [table, id] of [["Challenge", "ch1"], ["Order", "order1"]] as const) {
      const [before, was] = [await row(table, id), await version(table, id)];
      await sa.confirmDurable(table, id);
      expect(await row(table, id)).toEqual(before);
      // PostgreSQL: a new row version, written by a transaction of its own whose commit flushed the log
      if (kind === "postgres") expect(await version(table, id)).not.toBe(was);
    }
  });
  it("the relaxed pool's writes commit without waiting for the disk; the main pool's wait (sql.ts, relaxed)", async () => {
    const setting = async (q: { all<T>(t: string, p?: unknown[]): Promise<T[]> }) =>
      kind === "postgres" ? (await q.all<{ synchronous_commit: string }>("SHOW synchronous_commit"))[0]!.synchronous_commit : "n/a";
    // several at once, so that more than one connection of each pool answers
    const relaxed = await Promise.all(Array.from({ length: 6 }, () => setting(db.sql.relaxed)));
    const durable = await Promise.all(Array.from({ length: 6 }, () => setting(db.sql)));
    if (kind === "postgres") {
      expect(new Set(relaxed)).toEqual(new Set(["off"]));
      expect(new Set(durable)).toEqual(new Set(["on"]));
      // options a DATABASE_URL already carries hold on both pools, and the relaxed one still has its own
      const withOptions = await createDb(`${testDb.url}?options=${encodeURIComponent("-c application_name=anvil_opt")}`);
      try {
        const show = async (q: typeof db.sql.relaxed, name: string) => (await q.all<Record<string, string>>(`SHOW ${name}`))[0]![name];
        expect(await show(withOptions.sql.relaxed, "synchronous_commit")).toBe("off");
        expect(await show(withOptions.sql.relaxed, "application_name")).toBe("anvil_opt");
        expect(await show(withOptions.sql, "application_name")).toBe("anvil_opt");
        expect(await show(withOptions.sql, "synchronous_commit")).toBe("on");
      } finally {
        await withOptions.close();
      }
      // prepared statements are planned generically on both pools (client.ts), unless the URL says otherwise
      const plans = async (q: typeof db.sql.relaxed) => (await q.all<{ plan_cache_mode: string }>("SHOW plan_cache_mode"))[0]!.plan_cache_mode;
      expect(new Set(await Promise.all([db.sql, db.sql.relaxed, db.sql, db.sql.relaxed].map(plans)))).toEqual(new Set(["force_generic_plan"]));
      const own = await createDb(`${testDb.url}?options=${encodeURIComponent("-c plan_cache_mode=auto")}`);
      try {
        expect([await plans(own.sql), await plans(own.sql.relaxed)]).toEqual(["auto", "auto"]);
        expect(await setting(own.sql.relaxed)).toBe("off");
      } finally {
        await own.close();
      }
    } else {
      expect(db.sql.relaxed).toBeDefined(); // SQLite: one connection; WAL with synchronous = NORMAL for everything
    }
  });
  it("without autovacuum the tables' planner statistics are refreshed as they grow (autovacuum's rule: 50 + 10% of rows changed; at once when a table doubled)", async () => {
    if (kind === "sqlite") {
      expect(await sa.refreshStatistics()).toEqual([]); // SQLite's planner assumes large tables: nothing to do
      return;
    }
    const rows = Array.from({ length: 120 }, (_, i) => [`stats-${i}`, "x", new Date()]);
    await db.sql.run(`INSERT INTO "Setting" ("key", "value", "createdAt") VALUES ${rows.map(() => "(?, ?, ?)").join(", ")}`, rows.flat());
    const analyzed = async () =>
      (await db.sql.all<{ n: number }>(`SELECT COUNT(*) AS "n" FROM pg_stat_user_tables WHERE "relname" = 'Setting' AND "last_analyze" IS NOT NULL`))[0]!.n;
    if (await sa.autovacuumOn()) {
      expect(await sa.refreshStatistics()).toEqual([]); // PostgreSQL's own autovacuum does it
      return;
    }
    // the statistics collector reports changes with a short delay
    let first: string[] = [];
    for (const deadline = Date.now() + 5000; !first.includes("Setting") && Date.now() < deadline; ) {
      first = await sa.refreshStatistics();
      if (!first.includes("Setting")) await new Promise((r) => setTimeout(r, 200));
    }
    expect(first).toContain("Setting");
    expect(Number(await analyzed())).toBe(1);
    expect(await sa.refreshStatistics()).not.toContain("Setting"); // nothing changed since
    // changed again at once (more than 50 + 10%, less than double): analyzed again only once the last ANALYZE
    // is `minAgeSeconds` old (30 s unless told)
    const more = Array.from({ length: 80 }, (_, i) => [`stats-more-${i}`, "x", new Date()]);
    await db.sql.run(`INSERT INTO "Setting" ("key", "value", "createdAt") VALUES ${more.map(() => "(?, ?, ?)").join(", ")}`, more.flat());
    let second: string[] = [];
    for (const deadline = Date.now() + 5000; !second.includes("Setting") && Date.now() < deadline; ) {
      expect(await sa.refreshStatistics()).not.toContain("Setting"); // analyzed moments ago
      second = await sa.refreshStatistics({ minAgeSeconds: 0 });
      if (!second.includes("Setting")) await new Promise((r) => setTimeout(r, 200));
    }
    expect(second).toContain("Setting");
    // then more than doubled (~200 rows at the last ANALYZE, ~500 now): analyzed at once, however recent the last
    // one, since a plan chosen at the old size is kept until the next ANALYZE
    const double = Array.from({ length: 300 }, (_, i) => [`stats-double-${i}`, "x", new Date()]);
    await db.sql.run(`INSERT INTO "Setting" ("key", "value", "createdAt") VALUES ${double.map(() => "(?, ?, ?)").join(", ")}`, double.flat());
    let third: string[] = [];
    for (const deadline = Date.now() + 5000; !third.includes("Setting") && Date.now() < deadline; ) {
      third = await sa.refreshStatistics();
      if (!third.includes("Setting")) await new Promise((r) => setTimeout(r, 200));
    }
    expect(third).toContain("Setting");
    expect(await sa.refreshStatistics()).not.toContain("Setting"); // and not again until it changes or doubles again
  });
});
