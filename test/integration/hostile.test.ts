// Hostile payloads at every endpoint: whatever a signed request carries, the answer is an RFC 8555 problem
// (4xx, application/problem+json), never a 500, and the server keeps working.
import tls from "node:tls";
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

/** Bytes written straight to Anvil's TLS port; resolves with what came back before the server closed. */
function raw(directoryUrl: string, ca: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(directoryUrl);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: hostname, port: Number(port), ca, servername: hostname }, () => socket.end(bytes));
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
    socket.on("error", reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error("no answer within 10 s")));
  });
}

function parseRaw(response: string): { status: number; headers: Record<string, string>; body: any } {
  const [head = "", body = ""] = response.split("\r\n\r\n");
  const [statusLine = "", ...lines] = head.split("\r\n");
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
  return { status: Number(statusLine.split(" ")[1]), headers, body: JSON.parse(body) };
}

describe("requests that are not HTTP/1.1 at all", () => {
  // Node's parser refuses these before any route sees them; RFC 8555 §6.7 still wants a problem document
  it.each([
    ["an unknown method", "GARBAGE / HTTP/1.1\r\nHost: x\r\n\r\n", 400],
    ["a Content-Length that is not a number", "POST /acme/new-order HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400],
    ["a header line without a colon", "GET /directory HTTP/1.1\r\nHost: x\r\nnot a header\r\n\r\n", 400],
    ["header fields over Node's 16 KiB", `GET /directory HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`, 431],
  ])("%s: an RFC 8555 problem document, then the connection closes", async (_what, bytes, status) => {
    const res = parseRaw(await raw(env.directoryUrl, env.rootPem, bytes));
    expect(res.status).toBe(status);
    expect(res.headers["content-type"]).toBe("application/problem+json");
    expect(res.headers["connection"]).toBe("close");
    expect(res.headers["replay-nonce"]).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(res.headers["link"]).toBe(`<${env.directoryUrl}>;rel="index"`);
    expect(res.body).toMatchObject({ type: "urn:ietf:params:acme:error:malformed", status });
    expect(res.body.detail).toEqual(expect.any(String));
    // and the server goes on
    expect((await acct.post(acct.kid!, "")).status).toBe(200);
  });
});
