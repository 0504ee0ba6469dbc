// Hostile payloads at every endpoint: whatever a signed request carries, the answer is an RFC 8555 problem
// (4xx, application/problem+json), never a 500, and the server keeps working.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestAcme } from "../helpers/acme.js";
import { startInProc, type InProc } from "../helpers/inproc.js";

let env: InProc;
let acct: TestAcme;
let urls: Record<string, string>;

const PAYLOADS: unknown[] = [
  null, [], "text", 42, true, {}, { a: { b: { c: { d: [[[[]]]] } } } },
  { identifiers: [null] }, { identifiers: [{ type: "dns" }] }, { identifiers: [{ type: "dns", value: 7 }] },
  { identifiers: [{ type: "dns", value: "ü.anvil.test" }] }, { identifiers: [{ type: "dns", value: "x".repeat(300) }] },
  { identifiers: [{ type: "ip", value: "fe80::1%eth0" }] }, { identifiers: [{ type: "ip", value: "::ffff:127.0.0.1" }] },
  { identifiers: Array.from({ length: 500 }, (_, i) => ({ type: "dns", value: `n${i}.anvil.test` })) },
  { notBefore: 12, identifiers: [{ type: "dns", value: "a.anvil.test" }] },
  { csr: 123 }, { csr: "" }, { csr: "!!!" }, { csr: "MA" }, { csr: Buffer.from("0\x82\xff\xff").toString("base64url") },
  { certificate: [] }, { certificate: "" }, { certificate: "MA" }, { certificate: "AAAA", reason: 1.5 }, { reason: null },
  { contact: [null] }, { contact: ["mailto:"] }, { contact: ["mailto:a@" + "b".repeat(300) + ".test"] }, { status: null },
  { status: "deactivated", contact: 5 }, { termsOfServiceAgreed: "yes" }, { onlyReturnExisting: "true" },
  { account: 1, oldKey: "x" }, { protected: "e30", payload: "", signature: "" }, { "__proto__": { polluted: true } },
];

beforeAll(async () => {
  env = await startInProc();
  acct = await env.account();
  const order = await acct.newOrder(["hostile.anvil.test"]);
  const authz = await acct.authz(order.body.authorizations[0]);
  urls = {
    newOrder: acct.directory.newOrder,
    account: acct.kid!,
    orders: `${acct.kid}/orders`,
    order: order.location!,
    finalize: order.body.finalize,
    authz: order.body.authorizations[0],
    challenge: authz.body.challenges[0].url,
    certificate: acct.kid!.replace(/acct\/.*/, "cert/nope"),
    revoke: acct.directory.revokeCert,
    keyChange: acct.directory.keyChange,
  };
});
afterAll(async () => env?.close());

describe("hostile payloads", () => {
  it("never get a 5xx at any endpoint", async () => {
    const failures: string[] = [];
    for (const [name, url] of Object.entries(urls)) {
      for (const payload of PAYLOADS) {
        const res = await acct.post(url, payload);
        if (res.status >= 500 || (res.status >= 400 && !/problem\+json/.test(res.headers.get("content-type") ?? ""))) {
          failures.push(`${name} ${JSON.stringify(payload).slice(0, 80)} → ${res.status} ${res.text.slice(0, 120)}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect((await acct.post(acct.kid!, "")).status).toBe(200);
  }, 120_000);

  it("newAccount with hostile payloads: 4xx problems only", async () => {
    const failures: string[] = [];
    for (const payload of PAYLOADS) {
      const c = await env.client();
      const res = await c.newAccount(payload as Record<string, unknown>);
      if (res.status >= 500) failures.push(`${JSON.stringify(payload).slice(0, 80)} → ${res.status} ${res.text.slice(0, 120)}`);
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it("hostile protected headers: 4xx problems only", async () => {
    const headers: Record<string, unknown>[] = [
      { jwk: { kty: "EC", crv: "P-256", x: "AAAA", y: "AAAA" }, kid: undefined },
      { jwk: { kty: "oct", k: "c2VjcmV0" }, kid: undefined },
      { jwk: { kty: "RSA", n: "AQAB", e: "AQAB" }, kid: undefined, alg: "RS256" },
      { jwk: "not an object", kid: undefined },
      { jwk: { kty: "OKP", crv: "X25519", x: "AAAA" }, kid: undefined, alg: "EdDSA" },
      { kid: 12 }, { kid: "https://elsewhere.test/acme/acct/x" }, { kid: `${acct.kid}/../../x` },
      { url: 7 }, { nonce: { a: 1 } }, { alg: ["ES256"] }, { crit: ["b64"], b64: false },
    ];
    const failures: string[] = [];
    for (const h of headers) {
      for (const url of [acct.directory.newAccount, urls.newOrder, urls.revoke]) {
        const res = await acct.post(url, { termsOfServiceAgreed: true }, { protected: h });
        if (res.status >= 500 || !/problem\+json/.test(res.headers.get("content-type") ?? "")) {
          failures.push(`${JSON.stringify(h).slice(0, 80)} at ${url} → ${res.status} ${res.text.slice(0, 120)}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect((await acct.post(acct.kid!, "")).status).toBe(200);
  });
});
