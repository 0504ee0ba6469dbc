// SQLite's hand-written statements commit in groups (src/sa/db/sql.ts): the writes of one turn of the
// event loop share one transaction and one COMMIT. What a caller may rely on is unchanged and is what
// this file checks from a second, independent connection to the same file: a write that has answered is
// committed; a transaction is all-or-nothing and its failure undoes only its own writes; nothing answers
// before the group's COMMIT, reads included; a COMMIT that fails fails every member and stores nothing.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb, migrate, type Database as AnvilDb } from "../../src/sa/index.js";

const insert = `INSERT INTO "Setting" ("key", "value", "createdAt") VALUES (?, ?, ?)`;

// SQLite only: the postgres project leaves this file out (vitest.config.ts)
describe("SQLite group commit", () => {
  let dir: string;
  let db: AnvilDb;
  let other: Database.Database; // a second connection: sees only what is committed

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "anvil-group-"));
    const file = join(dir, "anvil.db");
    await migrate(`file:${file}`);
    db = await createDb(`file:${file}`);
    other = new Database(file, { readonly: true });
  });
  afterAll(async () => {
    other?.close();
    await db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const committed = (prefix: string): string[] =>
    (other.prepare(`SELECT "key" FROM "Setting" WHERE "key" LIKE ? ORDER BY "key"`).all(`${prefix}%`) as { key: string }[]).map((r) => r.key);

  it("writes issued together share one COMMIT, and each has committed when it answers", async () => {
    const before = db.sql.commits?.() ?? 0;
    const seenAtAnswer: string[][] = [];
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? db.sql.run(insert, [`g1-${i}`, "x", new Date()]) : db.sql.tx((q) => q.run(insert, [`g1-${i}`, "x", new Date()]))).then(() =>
          seenAtAnswer.push(committed(`g1-${i}`)),
        ),
      ),
    );
    expect(seenAtAnswer).toHaveLength(10);
    for (const seen of seenAtAnswer) expect(seen).toHaveLength(1);
    expect(committed("g1-")).toHaveLength(10);
    expect(db.sql.commits!() - before).toBe(1);
  });

  it("a failed transaction undoes its own writes only; the others of its group are stored", async () => {
    const results = await Promise.allSettled([
      db.sql.tx(async (q) => {
        await q.run(insert, ["g2-a", "x", new Date()]);
      }),
      db.sql.tx(async (q) => {
        await q.run(insert, ["g2-b", "x", new Date()]);
        await q.run(insert, ["g2-b", "again", new Date()]); // duplicate key
      }),
      db.sql.run(insert, ["g2-c", "x", new Date()]),
      db.sql.run(insert, ["g2-a", "duplicate", new Date()]), // fails alone: a statement is atomic
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled", "rejected"]);
    expect(committed("g2-")).toEqual(["g2-a", "g2-c"]);
    expect(other.prepare(`SELECT "value" FROM "Setting" WHERE "key" = 'g2-a'`).get()).toEqual({ value: "x" });
  });

  it("a read issued while a group is open answers after its COMMIT, never with rows that could still be lost", async () => {
    const write = db.sql.run(insert, ["g3-a", "x", new Date()]);
    const read = db.sql.all<{ n: number }>(`SELECT COUNT(*) AS "n" FROM "Setting" WHERE "key" = ?`, ["g3-a"]).then((rows) => ({
      rows,
      committedThen: committed("g3-"),
    }));
    const { rows, committedThen } = await read;
    expect(rows).toEqual([{ n: 1 }]);
    expect(committedThen).toEqual(["g3-a"]);
    await write;
  });

  it("a COMMIT that fails fails every member of its group and stores none of it; the next group works", async () => {
    const results = await Promise.allSettled([
      db.sql.run(insert, ["g4-a", "x", new Date()]),
      db.sql.tx(async (q) => {
        // a foreign key checked only at COMMIT: the group's COMMIT fails
        await q.run("PRAGMA defer_foreign_keys = ON");
        await q.run(`INSERT INTO "Challenge" ("id", "authzId", "type", "token", "status", "attempts") VALUES ('g4-ch', 'no-such-authz', 'http-01', 't', 'pending', 0)`);
      }),
      db.sql.tx((q) => q.run(insert, ["g4-b", "x", new Date()])),
    ]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
    expect(committed("g4-")).toEqual([]);
    expect(other.prepare(`SELECT COUNT(*) AS "n" FROM "Challenge" WHERE "id" = 'g4-ch'`).get()).toEqual({ n: 0 });
    await db.sql.run(insert, ["g4-c", "x", new Date()]);
    expect(committed("g4-")).toEqual(["g4-c"]);
  });

  it("Prisma's queries on the same connection wait for an open group and see it committed", async () => {
    const write = db.sql.run(insert, ["g5-a", "x", new Date()]);
    const viaPrisma = db.prisma.setting.findUnique({ where: { key: "g5-a" } });
    await write;
    expect((await viaPrisma)?.value).toBe("x");
  });
});
