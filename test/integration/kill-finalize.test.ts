// SIGKILL in the middle of many finalizations: the database never holds a valid order without its
// certificate, nor a certificate whose order is not valid; after a restart every order finishes.
import { afterEach, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import pg from "pg";
import { join } from "node:path";
import { TestAcme, makeCsr, signJws, startHttp01Responder } from "../helpers/acme.js";
import { startAnvil, type AnvilProcess } from "../helpers/anvil-process.js";
import { createTestDatabase } from "../helpers/db.js";
import { startTestDns } from "../helpers/dnsserver.js";
import { makeTempDir, nodeTransport, removeTempDir } from "../helpers/tools.js";

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!().catch(() => undefined);
});

const INVARIANTS = {
  validWithoutCert: `SELECT COUNT(*) AS n FROM "Order" o LEFT JOIN "Certificate" c ON c."orderId" = o."id" WHERE o."status" = 'valid' AND c."id" IS NULL`,
  certWithoutValidOrder: `SELECT COUNT(*) AS n FROM "Certificate" c JOIN "Order" o ON o."id" = c."orderId" WHERE o."status" <> 'valid'`,
  byStatus: `SELECT "status", COUNT(*) AS n FROM "Order" GROUP BY "status"`,
};

async function query(dbUrl: string | undefined, dataDir: string, sql: string): Promise<Record<string, unknown>[]> {
  if (!dbUrl) {
    const db = new Database(join(dataDir, "anvil.db"), { readonly: true });
    try {
      return db.prepare(sql).all() as Record<string, unknown>[];
    } finally {
      db.close();
    }
  }
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

describe("SIGKILL mid-finalize", () => {
  it("leaves no valid order without its certificate and no certificate without its valid order", async () => {
    const dns = await startTestDns({ defaultA: "127.0.0.1" });
    cleanup.push(() => dns.close());
    const responder = await startHttp01Responder();
    cleanup.push(() => responder.close());
    const dataDir = await makeTempDir("kill");
    cleanup.push(() => removeTempDir(dataDir));
    const db = await createTestDatabase();
    cleanup.push(() => db.drop());
    const env = { ANVIL_DNS_RESOLVER: dns.address, ANVIL_HTTP01_PORT: String(responder.port), ANVIL_LOG_LEVEL: "warn", ...(db.url ? { DATABASE_URL: db.url } : {}) };

    let anvil: AnvilProcess = await startAnvil({ dataDir, env });
    const client = await TestAcme.create(anvil.directoryUrl, { ca: anvil.rootPem });
    await client.newAccount();
    const N = 24;
    const orders = [];
    for (let i = 0; i < N; i++) {
      const o = await client.newOrder([`kill${i}.anvil.test`]);
      const ch = (await client.authz(o.body.authorizations[0])).body.challenges.find((c: any) => c.type === "http-01");
      responder.set(ch.token, client.keyAuthorization(ch.token));
      await client.respond(ch.url);
      orders.push(o);
    }
    for (const o of orders) await client.poll(o.location!, ["ready"]);

    // fire every finalize at once and kill the process while they are in flight
    const transport = nodeTransport(anvil.rootPem);
    const nonces = await Promise.all(orders.map(() => client.newNonce()));
    const csrs = await Promise.all(orders.map((_, i) => makeCsr([`kill${i}.anvil.test`])));
    const inFlight = orders.map(async (o, i) => {
      const jws = await signJws(client.key, { alg: client.key.alg, nonce: nonces[i], url: o.body.finalize, kid: client.kid }, JSON.stringify({ csr: Buffer.from(csrs[i]!.der).toString("base64url") }));
      return transport(o.body.finalize, { method: "POST", headers: { "content-type": "application/jose+json" }, body: JSON.stringify(jws) }).catch(() => undefined);
    });
    await new Promise((r) => setTimeout(r, 40));
    anvil.child.kill("SIGKILL");
    await new Promise((r) => anvil.child.once("exit", r));
    await Promise.all(inFlight);

    const after = async (sql: string) => Number((await query(db.url, dataDir, sql))[0]?.n ?? 0);
    expect(await after(INVARIANTS.validWithoutCert)).toBe(0);
    expect(await after(INVARIANTS.certWithoutValidOrder)).toBe(0);

    const byStatus: Record<string, number> = Object.fromEntries((await query(db.url, dataDir, INVARIANTS.byStatus)).map((r) => [String(r.status), Number(r.n)]));
    expect(Object.values(byStatus).reduce((a, b) => a + b, 0)).toBe(N);
    // restart: orders left "processing" are finished by the recovery loop, the rest can still be finalized
    anvil = await startAnvil({ dataDir, env: { ...env, ANVIL_LISTEN: `127.0.0.1:${anvil.port}`, ANVIL_BASE_URL: anvil.baseUrl } });
    cleanup.push(() => anvil.stop());
    for (const [i, o] of orders.entries()) {
      const state = await client.authz(o.location!);
      if (state.body.status === "ready") await client.finalize(o.body, csrs[i]!.der);
      const done = await client.poll(o.location!, ["valid", "invalid"], { timeoutMs: 90_000, intervalMs: 500 });
      expect(done.body.status).toBe("valid");
    }
    expect(await after(INVARIANTS.validWithoutCert)).toBe(0);
    expect(await after(INVARIANTS.certWithoutValidOrder)).toBe(0);
  }, 180_000);
});
