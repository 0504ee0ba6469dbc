// SQLite's WAL checkpoints run off the request thread (src/sa/db/checkpointer.ts): a worker thread with its own
// connection copies committed pages into the database file shortly after the commits, so no commit of the
// request thread has to (docs/performance.md, session 17). Observed here through SQLite's wal-index header
// (https://www.sqlite.org/walformat.html, §2.1: mxFrame, the WAL's last valid frame, at byte 16 of the -shm
// file; nBackfill, the frames already copied into the database, at byte 96; in the host's byte order).
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { endianness, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WAL_AUTOCHECKPOINT_PAGES } from "../../src/sa/db/client.js";
import { createDb, migrate, type Database as AnvilDb } from "../../src/sa/index.js";

const insert = `INSERT INTO "Setting" ("key", "value", "createdAt") VALUES (?, ?, ?)`;
const PAGE = 4096;

function walIndex(file: string): { mxFrame: number; nBackfill: number } {
  const shm = readFileSync(`${file}-shm`).subarray(0, 136);
  const u32 = (at: number) => (endianness() === "LE" ? shm.readUInt32LE(at) : shm.readUInt32BE(at));
  return { mxFrame: u32(16), nBackfill: u32(96) };
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

// SQLite only: the postgres project leaves this file out (vitest.config.ts)
describe("SQLite checkpoints off the request thread", () => {
  let dir: string;
  let file: string;
  let db: AnvilDb | undefined;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "anvil-ckpt-"));
    file = join(dir, "anvil.db");
    await migrate(`file:${file}`);
    db = await createDb(`file:${file}`);
  });
  afterEach(async () => {
    await db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("committed pages reach the database file with no commit of the request thread checkpointing", async () => {
    const value = "v".repeat(2 * PAGE); // every row takes pages of its own
    for (let i = 0; i < 100; i++) await db!.sql.run(insert, [`c1-${i}`, value, new Date()]);
    const written = walIndex(file).mxFrame;
    // far below the request thread's automatic checkpoint: only the checkpointer copies these
    expect(written).toBeGreaterThan(200);
    expect(written).toBeLessThan(WAL_AUTOCHECKPOINT_PAGES);
    // nothing else writes now: the WAL stays as it is, and its frames are copied within moments
    expect(await until(() => walIndex(file).nBackfill === written, 10_000)).toBe(true);
    expect(walIndex(file).mxFrame).toBe(written);
    expect(statSync(file).size).toBeGreaterThan(100 * 2 * PAGE);
  });

  // The request thread's automatic checkpoint (at WAL_AUTOCHECKPOINT_PAGES) is the backstop. A commit past it that
  // finds the checkpointer mid-pass cannot checkpoint (PASSIVE waits for nobody), and the next commit tries again, so
  // the WAL can pass the backstop by what is written during one pass of the checkpointer, never more.
  it("the WAL restarts under a stream of commits and stays near the backstop", async () => {
    const value = "w".repeat(2 * PAGE);
    let most = 0;
    let restarts = 0;
    let last = 0;
    for (let i = 0; i < 4000; i++) {
      await db!.sql.run(insert, [`c2-${i}`, value, new Date()]);
      const { mxFrame } = walIndex(file);
      if (mxFrame < last) restarts++; // the WAL began again from its first frame
      last = mxFrame;
      most = Math.max(most, mxFrame);
    }
    // 4,000 rows of two pages and more: past the backstop unless the WAL restarted
    expect(restarts).toBeGreaterThan(0);
    expect(most).toBeLessThan(1.5 * WAL_AUTOCHECKPOINT_PAGES);
  });

  it("close stops the checkpointer's connection too: the last connection's close folds the WAL into the file", async () => {
    for (let i = 0; i < 20; i++) await db!.sql.run(insert, [`c3-${i}`, "x", new Date()]);
    // the checkpointer has opened its connection and run
    expect(await until(() => walIndex(file).nBackfill > 0, 10_000)).toBe(true);
    await db!.close();
    db = undefined;
    expect(existsSync(`${file}-wal`)).toBe(false);
  });
});
