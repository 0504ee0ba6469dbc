// bench/queries.ts's counting helpers: how a logged statement is named, and the typical count per request.
import { describe, expect, it } from "vitest";
import { mode, statementKind } from "../../bench/queries.js";

describe("statementKind", () => {
  it("names hand-written SQL by verb and table (with the first join), Prisma's by its qualified table", () => {
    expect(statementKind(`WITH "anvil_nonce" AS (INSERT INTO "RedeemedNonce" ("nonce") VALUES ($1)) SELECT 1`)).toBe("WITH");
    expect(statementKind(`SELECT a."id" FROM "Authorization" a JOIN "Challenge" c ON c."authzId" = a."id"`)).toBe("SELECT Authorization+Challenge (raw)");
    expect(statementKind(`UPDATE "Order" SET "status" = 'ready' WHERE "id" = ?`)).toBe("UPDATE Order (raw)");
    expect(statementKind('SELECT "public"."Account"."id" FROM "public"."Account" WHERE 1')).toBe("SELECT Account");
    expect(statementKind("SELECT COUNT(*) FROM `main`.`Challenge`")).toBe("SELECT Challenge (count)");
    expect(statementKind("BEGIN")).toBe("BEGIN");
  });
});

describe("mode", () => {
  it("the most common value; a tie goes to the smallest; nothing gives NaN", () => {
    expect(mode([2, 2, 3, 2, 1])).toBe(2);
    expect(mode([3, 1, 3, 1])).toBe(1);
    expect(mode([7])).toBe(7);
    expect(mode([])).toBeNaN();
  });
});
