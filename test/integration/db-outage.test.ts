// When the database goes away, requests get 503 with a serverInternal problem and Retry-After (never a
// stack trace), the process keeps running, and it recovers by itself when the database returns.
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestAcme } from "../helpers/acme.js";
import { PG_ADMIN_URL, createTestDatabase, type TestDatabase } from "../helpers/db.js";
import { ERR, startInProc, type InProc } from "../helpers/inproc.js";
import { freePort } from "../helpers/tools.js";

/** A TCP proxy to PostgreSQL that the test can cut (closing every connection) and restore. */
async function cuttableProxy(target: { host: string; port: number }) {
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  const open = () =>
    new Promise<void>((resolve) => {
      server = net.createServer((client) => {
        const upstream = net.connect(target.port, target.host);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on("close", () => sockets.delete(s));
          s.on("error", () => { client.destroy(); upstream.destroy(); });
        }
        client.pipe(upstream).pipe(client);
      });
      server.listen(port, "127.0.0.1", () => resolve());
    });
  await open();
  return {
    port,
    cut: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server!.close(() => resolve());
      }),
    restore: open,
  };
}

describe("database outage", () => {
  let db: TestDatabase;
  let env: InProc;
  let proxy: Awaited<ReturnType<typeof cuttableProxy>>;
  let acct: TestAcme;

  beforeAll(async () => {
    db = await createTestDatabase("postgres");
    const admin = new URL(PG_ADMIN_URL);
    proxy = await cuttableProxy({ host: admin.hostname, port: Number(admin.port || 5432) });
    const url = new URL(db.url!);
    url.host = `127.0.0.1:${proxy.port}`;
    env = await startInProc({ DATABASE_URL: url.toString() });
    acct = await env.account();
  });
  afterAll(async () => {
    await env?.close();
    await db?.drop();
  });

  it("answers 503 serverInternal with Retry-After while the database is down, and recovers", async () => {
    expect((await acct.newOrder(["before.anvil.test"])).status).toBe(201);
    await proxy.cut();
    const down = await acct.newOrder(["during.anvil.test"]);
    expect(down.status).toBe(503);
    expect(down.body.type).toBe(ERR("serverInternal"));
    expect(down.headers.get("retry-after")).toBeTruthy();
    expect(down.text).not.toMatch(/at .*\.(js|ts):\d+/); // no stack trace
    const ready = await acct.request("GET", env.directoryUrl.replace("/directory", "/readyz"));
    expect(ready.status).toBe(503);
    // the directory needs no database
    expect((await acct.request("GET", env.directoryUrl)).status).toBe(200);
    await proxy.restore();
    let after = await acct.newOrder(["after.anvil.test"]);
    for (let i = 0; i < 20 && after.status !== 201; i++) {
      await new Promise((r) => setTimeout(r, 250));
      after = await acct.newOrder(["after.anvil.test"]);
    }
    expect(after.status).toBe(201);
    expect((await acct.request("GET", env.directoryUrl.replace("/directory", "/readyz"))).status).toBe(200);
  });
});
