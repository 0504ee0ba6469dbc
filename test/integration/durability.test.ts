// Nothing is lost across restarts and crashes: validation jobs and finalize jobs live in storage
// (RFC 8555 §7.1.6 states only move forward), and expiry reads as the RFC says.
import { createServer } from "node:http";
import { writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { TestAcme, makeCsr } from "../helpers/acme.js";
import { startAnvil, type AnvilProcess } from "../helpers/anvil-process.js";
import { createTestDatabase } from "../helpers/db.js";
import { startTestDns, type TestDns } from "../helpers/dnsserver.js";
import { fakeClock, startInProc, type InProc } from "../helpers/inproc.js";
import { makeTempDir, removeTempDir } from "../helpers/tools.js";

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!().catch(() => undefined);
});

describe("validation jobs survive a crash", () => {
  it("a SIGKILL mid-validation: the restarted process resumes the job and validates", async () => {
    // a responder that stalls the first request (the process is killed while waiting) and answers later ones
    const keyAuths = new Map<string, string>();
    let requests = 0;
    const responder = createServer((req, res) => {
      requests++;
      const token = (req.url ?? "").split("/").pop() ?? "";
      if (requests === 1) return; // never answers: the validator is mid-request when killed
      res.end(keyAuths.get(token) ?? "");
    });
    await new Promise<void>((r) => responder.listen(0, "127.0.0.1", r));
    cleanup.push(async () => { responder.closeAllConnections(); responder.close(); });
    const port = (responder.address() as AddressInfo).port;
    const dns: TestDns = await startTestDns({ defaultA: "127.0.0.1" });
    cleanup.push(() => dns.close());
    const dataDir = await makeTempDir("crash");
    cleanup.push(() => removeTempDir(dataDir));
    const configFile = `${dataDir}/anvil.yaml`;
    writeFileSync(configFile, "validation:\n  timeout: 2s\n");
    const db = await createTestDatabase(); // SQLite in the data folder, or a PostgreSQL database that outlives the restart
    cleanup.push(() => db.drop());
    const env = { ANVIL_CONFIG: configFile, ANVIL_DNS_RESOLVER: dns.address, ANVIL_HTTP01_PORT: String(port), ...(db.url ? { DATABASE_URL: db.url } : {}) };

    let anvil: AnvilProcess = await startAnvil({ dataDir, env });
    const client = await TestAcme.create(anvil.directoryUrl, { ca: anvil.rootPem });
    expect((await client.newAccount()).status).toBe(201);
    const order = await client.newOrder(["crash.anvil.test"]);
    const authzUrl = order.body.authorizations[0];
    const ch = (await client.authz(authzUrl)).body.challenges.find((c: any) => c.type === "http-01");
    keyAuths.set(ch.token, client.keyAuthorization(ch.token));
    expect((await client.respond(ch.url)).body.status).toBe("processing");
    while (requests === 0) await new Promise((r) => setTimeout(r, 20));
    anvil.child.kill("SIGKILL");
    await new Promise((r) => anvil.child.once("exit", r));

    // same data dir and port: the same directory URL, the same database
    anvil = await startAnvil({ dataDir, env: { ...env, ANVIL_LISTEN: `127.0.0.1:${anvil.port}`, ANVIL_BASE_URL: anvil.baseUrl } });
    cleanup.push(() => anvil.stop());
    const done = await client.poll(authzUrl, ["valid", "invalid"], { timeoutMs: 30_000 });
    expect(done.body.status).toBe("valid");
    expect(requests).toBeGreaterThanOrEqual(2);
  }, 60_000);
});

/**
 * A new account's ready order for `name`, then what a finalize that died after its claim leaves behind: the order
 * processing with a CSR for `csrNames` stored, the dead worker's claim expired.
 */
async function crashedFinalize(env: InProc, name: string, csrNames: string[]) {
  const c = await env.account();
  const order = await c.newOrder([name]);
  const authz = await c.authz(order.body.authorizations[0]);
  const ch = authz.body.challenges.find((x: any) => x.type === "http-01");
  env.responder.set(ch.token, c.keyAuthorization(ch.token));
  await c.respond(ch.url);
  await c.poll(order.location!, ["ready"]);
  const orderId = order.location!.split("/").pop()!;
  const accountId = (await env.anvil.sa.getOrder(orderId))!.accountId;
  const csr = await makeCsr(csrNames);
  expect((await env.anvil.sa.claimFinalize(orderId, accountId, csr.der, new Date(), new Date(Date.now() - 1000)))?.claimed).toBe(true);
  return { c, order, orderId };
}

describe("finalize jobs survive a crash", () => {
  let env: InProc;
  it("an order left processing with its CSR is issued by the recovery loop; never valid without its certificate", async () => {
    env = await startInProc();
    cleanup.push(() => env.close());
    const { c, order } = await crashedFinalize(env, "recover.anvil.test", ["recover.anvil.test"]);
    const mid = await c.post(order.location!, "");
    expect(mid.body.status).toBe("processing");
    expect(mid.body.certificate).toBeUndefined();
    await env.restart();
    const done = await c.poll(order.location!, ["valid", "invalid"], { timeoutMs: 20_000 });
    expect(done.body.status).toBe("valid");
    const cert = await c.certificate(done.body.certificate);
    expect(cert.status).toBe(200);
    expect(cert.text).toMatch(/BEGIN CERTIFICATE/);
  });
});

describe("a claim stored before its CSR was checked", () => {
  it("a crash between the claim and the CSR's check: the recovery loop checks it, refuses it, and the order is ready again", async () => {
    const env = await startInProc(); // the recovery loop runs every 5 s
    cleanup.push(() => env.close());
    // the stored CSR names a name the order does not hold
    const { c, order, orderId } = await crashedFinalize(env, "checked.anvil.test", ["other.anvil.test"]);
    const back = await c.poll(order.location!, ["ready", "valid", "invalid"], { timeoutMs: 20_000 });
    expect(back.body.status).toBe("ready");
    expect(back.body.certificate).toBeUndefined();
    expect(await env.anvil.sa.getOrderCsr(orderId)).toBeUndefined();
    // and the client's own finalize works
    const fin = await c.finalize(order.body, (await makeCsr(["checked.anvil.test"])).der);
    expect(fin.body.status).toBe("valid");
  });
});

describe("expiry reads as the RFC says", () => {
  it("a pending order past its expiry is invalid and its authorization expired; a valid authorization expires after 30 days", async () => {
    const clock = fakeClock();
    const env = await startInProc({}, { clock });
    cleanup.push(() => env.close());
    const c = await env.account();
    const pending = await c.newOrder(["late.anvil.test"]);
    const done = await c.newOrder(["done.anvil.test"]);
    const a = await c.authz(done.body.authorizations[0]);
    const ch = a.body.challenges.find((x: any) => x.type === "http-01");
    env.responder.set(ch.token, c.keyAuthorization(ch.token));
    await c.respond(ch.url);
    await c.poll(done.body.authorizations[0], ["valid"]);

    clock.advance(8 * 86400);
    // authz() is a POST-as-GET that retries once on badNonce: the nonce held from before is expired now
    const o = await c.authz(pending.location!);
    expect(o.body.status).toBe("invalid");
    expect((await c.authz(pending.body.authorizations[0])).body.status).toBe("expired");
    // answering a challenge of the expired authorization starts nothing
    const late = (await c.authz(pending.body.authorizations[0])).body.challenges.find((x: any) => x.type === "http-01");
    const answer = await c.respond(late.url);
    expect(answer.status).toBe(400);
    expect(answer.body.type).toBe("urn:ietf:params:acme:error:malformed");
    expect((await env.anvil.sa.getChallenge(late.url.split("/").pop()))!.challenge).toMatchObject({ status: "pending", attempts: 0 });
    expect((await c.authz(done.body.authorizations[0])).body.status).toBe("valid");

    clock.advance(23 * 86400);
    expect((await c.authz(done.body.authorizations[0])).body.status).toBe("expired");
    // a new order for the name gets a fresh pending authorization instead of the expired one
    const again = await c.newOrder(["done.anvil.test"]);
    expect(again.body.authorizations[0]).not.toBe(done.body.authorizations[0]);
    expect(again.body.status).toBe("pending");
  });
});
