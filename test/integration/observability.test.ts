// Operations basics: Prometheus metrics on the management listener, one log line per request with the
// account, audit events for what a CA must account for, and no secrets in the logs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestAcme } from "../helpers/acme.js";
import { startInProc, type InProc } from "../helpers/inproc.js";
import { freePort, pemToDer } from "../helpers/tools.js";

let env: InProc;
let acct: TestAcme;
let adminUrl: string;
const lines: string[] = [];

beforeAll(async () => {
  const port = await freePort();
  adminUrl = `http://127.0.0.1:${port}`;
  env = await startInProc({ ANVIL_ADMIN_LISTEN: `127.0.0.1:${port}` }, { logLines: lines });
  acct = await env.account();
});
afterAll(async () => env?.close());

const metric = (text: string, name: string) =>
  text.split("\n").filter((l) => l.startsWith(name)).reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);

describe("metrics", () => {
  it("count requests, orders, certificates, validations and nonce rejects; report the queue depth", async () => {
    const { certPem } = await acct.issue(["metrics.anvil.test"], env.responder);
    await acct.post(acct.kid!, "", { nonce: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" });
    const res = await fetch(`${adminUrl}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(metric(text, "anvil_certificates_issued_total")).toBe(1);
    expect(metric(text, "anvil_orders_created_total")).toBe(1);
    expect(metric(text, 'anvil_validations_total{type="http-01",result="valid"}')).toBe(1);
    expect(metric(text, "anvil_nonce_rejects_total")).toBe(1);
    expect(metric(text, 'anvil_http_requests_total{route="/acme/new-order",method="POST",status="201"}')).toBe(1);
    expect(text).toMatch(/anvil_http_request_duration_seconds_bucket\{le="0.05",route="\/acme\/new-order",method="POST"\}/);
    expect(text).toMatch(/^anvil_validation_queue_depth 0$/m);
    expect(text).toMatch(/anvil_validation_duration_seconds_count\{type="http-01"\} 1/);
    expect(certPem).toBeTruthy();
    expect((await fetch(`${adminUrl}/readyz`)).status).toBe(200);
  });
});

describe("logs", () => {
  const parsed = () => lines.map((l) => JSON.parse(l));

  it("one line per request with method, route, status, latency and the account", async () => {
    const accountId = acct.kid!.split("/").pop();
    // the line is written by an onResponse hook, which may run just after the client has its answer
    const before = lines.length;
    await acct.post(acct.kid!, "");
    const fresh = () => lines.slice(before).map((l) => JSON.parse(l)).find((l) => l.msg === "request" && l.route === "/acme/acct/:id");
    for (let i = 0; i < 50 && !fresh(); i++) await new Promise((r) => setTimeout(r, 20));
    const line = fresh();
    expect(line).toMatchObject({ method: "POST", status: 200, account: accountId });
    expect(typeof line.ms).toBe("number");
  });

  it("audit events: account created, certificate issued (serial, names, account), revoked", async () => {
    const { certPem } = await acct.issue(["audit.anvil.test"], env.responder);
    await acct.revoke(pemToDer(certPem), 1);
    const audit = parsed().filter((l) => l.audit);
    expect(audit.find((l) => l.event === "account.created")).toBeTruthy();
    const issued = audit.find((l) => l.event === "certificate.issued" && l.names.includes("audit.anvil.test"));
    expect(issued).toMatchObject({ accountId: acct.kid!.split("/").pop() });
    expect(issued.serial).toMatch(/^[0-9a-f]+$/);
    expect(audit.find((l) => l.event === "certificate.revoked" && l.serial === issued.serial)).toMatchObject({ reason: 1 });
  });

  it("never contains private keys, JWS signatures or key material", () => {
    const all = lines.join("\n");
    expect(all).not.toMatch(/PRIVATE KEY/);
    expect(all).not.toMatch(/"signature"\s*:\s*"[A-Za-z0-9_-]{20,}/);
    expect(all).not.toMatch(/"d"\s*:\s*"/);
  });
});
