// Randomized hostile requests (seeded, so a failure repeats): payloads of every JSON shape, mangled protected
// headers, mangled JWS bodies and raw bodies, at every route and with every method. Whatever arrives, the answer
// is below 500, every 4xx is an RFC 8555 problem document (RFC 8555 §6.7, RFC 7807), and the server still works.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateAccountKey, makeCsr, type TestAcme } from "../helpers/acme.js";
import { startInProc, type InProc } from "../helpers/inproc.js";
import { pemToDer } from "../helpers/tools.js";

// mulberry32: a small seeded PRNG, so the sequence (and any failure) is the same on every run
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// a longer or different run by hand: ANVIL_FUZZ_SEED=7 ANVIL_FUZZ_ROUNDS=20000 npx vitest run test/integration/fuzz.test.ts
const SEED = Number(process.env.ANVIL_FUZZ_SEED ?? 0x5eed18);
const ROUNDS = Number(process.env.ANVIL_FUZZ_ROUNDS ?? 1500);

const STRINGS = [
  "", " ", "\u0000", "é", "😀", "\ud800", "a".repeat(5000), "-1", "1e309", "NaN", "null", "true", "[]", "{}",
  "*.anvil.test", "*.*.anvil.test", "anvil.test.", ".anvil.test", "a..b.anvil.test", "xn--zz.anvil.test", "127.0.0.1",
  "::1", "999.1.1.1", "1.2.3.4/8", "fe80::1%lo", "mailto:a@b.test", "mailto:", "tel:+1", "https://x.test/", "../../",
  "%00", "AAAA", "MA", "MIIB", "dns", "ip", "pending", "valid", "deactivated", "revoked", "ready", "__proto__",
  "constructor", "keyCompromise",
];
const KEYS = [
  "identifiers", "type", "value", "csr", "certificate", "reason", "contact", "status", "termsOfServiceAgreed",
  "onlyReturnExisting", "externalAccountBinding", "notBefore", "notAfter", "account", "oldKey", "profile",
  "replaces", "protected", "payload", "signature", "__proto__", "constructor", "wildcard", "token",
];

function generator(rand: () => number) {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  function value(depth: number): unknown {
    const r = rand();
    if (depth > 4 || r < 0.25) return pick(STRINGS);
    if (r < 0.35) return pick([0, -1, 1.5, 2 ** 53, -(2 ** 63), 1e308, 7]);
    if (r < 0.42) return pick([true, false, null]);
    if (r < 0.6) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
    if (r < 0.7) return Array.from({ length: Math.floor(rand() * 3) }, () => ({ type: pick(["dns", "ip", "email", 1]), value: pick(STRINGS) }));
    const o: Record<string, unknown> = {};
    for (let i = Math.floor(rand() * 4); i >= 0; i--) o[pick(KEYS)] = value(depth + 1);
    return o;
  }
  return { pick, value };
}

let env: InProc;
let acct: TestAcme;
let urls: string[];
let readyFinalize: string;
let csrDer: Uint8Array;
let certDer: Buffer;

beforeAll(async () => {
  env = await startInProc();
  acct = await env.account();
  const order = await acct.newOrder(["fuzz.anvil.test"]);
  const authz = await acct.authz(order.body.authorizations[0]);
  // an order made ready through http-01, for CSRs mangled byte by byte
  const ready = await acct.newOrder(["fuzz-ready.anvil.test"]);
  const readyAuthz = await acct.authz(ready.body.authorizations[0]);
  const http01 = readyAuthz.body.challenges.find((c: { type: string }) => c.type === "http-01");
  env.responder.set(http01.token, acct.keyAuthorization(http01.token));
  await acct.respond(http01.url);
  expect((await acct.poll(ready.location!, ["ready", "invalid"])).body.status).toBe("ready");
  readyFinalize = ready.body.finalize;
  csrDer = (await makeCsr(["fuzz-ready.anvil.test"])).der;
  // a certificate, for revocation requests carrying it mangled
  const issued = await acct.issue(["fuzz-cert.anvil.test"], env.responder);
  certDer = Buffer.from(pemToDer(issued.certPem));
  const base = acct.kid!.replace(/\/acct\/.*/, "");
  urls = [
    acct.directory.newAccount, acct.directory.newOrder, acct.directory.revokeCert, acct.directory.keyChange,
    acct.directory.newNonce, acct.kid!, `${acct.kid}/orders`, order.location!, order.body.finalize,
    order.body.authorizations[0], authz.body.challenges[0].url, `${base}/cert/nope`, `${base}/acct/nope`,
    `${base}/order/nope`, `${base}/authz/nope`, `${base}/chall/nope`, `${base}/nowhere`, acct.directoryUrl,
  ];
});
afterAll(async () => env?.close());

describe("randomized hostile requests", () => {
  it(`${ROUNDS} seeded requests: never a 5xx, every 4xx a problem document`, async () => {
    const rand = prng(SEED);
    const { pick, value } = generator(rand);
    const failures: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const url = pick(urls);
      const kind = rand();
      let res;
      let what: string;
      let method = "POST";
      if (kind < 0.55) {
        // a well-signed request with a random payload, sometimes with a mangled protected header
        const payload = rand() < 0.1 ? "" : value(0);
        const protectedHeader: Record<string, unknown> = {};
        if (rand() < 0.3) protectedHeader[pick(["alg", "nonce", "url", "kid", "jwk", "crit", "b64", "typ", "zip"])] = value(2);
        what = `signed ${JSON.stringify(payload)?.slice(0, 60)} header ${JSON.stringify(protectedHeader).slice(0, 60)}`;
        res = await acct.post(url, payload, { protected: protectedHeader });
      } else if (kind < 0.62) {
        // a CSR with a few bytes changed, cut short or grown, to a ready order: parsing it is the CA's own work
        const der = Buffer.from(csrDer);
        const cut = rand() < 0.2 ? der.subarray(0, Math.floor(rand() * der.length)) : der;
        const mangled = Buffer.concat([cut, rand() < 0.1 ? Buffer.from([0, 0x30, 0x82, 0xff]) : Buffer.alloc(0)]);
        for (let n = 1 + Math.floor(rand() * 3); n > 0 && mangled.length > 0; n--) {
          mangled[Math.floor(rand() * mangled.length)] = Math.floor(rand() * 256);
        }
        what = `finalize with a mangled CSR ${mangled.toString("hex").slice(0, 60)}`;
        res = await acct.post(readyFinalize, { csr: mangled.toString("base64url") });
      } else if (kind < 0.67) {
        // revocation of the certificate with a few bytes changed, and any reason
        const mangled = Buffer.from(certDer);
        mangled[Math.floor(rand() * mangled.length)] = Math.floor(rand() * 256);
        const reason = rand() < 0.5 ? undefined : value(2);
        what = `revoke a mangled certificate, reason ${JSON.stringify(reason)}`;
        res = await acct.post(acct.directory.revokeCert, { certificate: mangled.toString("base64url"), ...(reason === undefined ? {} : { reason }) });
      } else if (kind < 0.72) {
        // a key change whose inner JWS (new key, account, old key, url) has one member wrong
        const member = pick(["account", "oldKey", "url", "alg", "jwk", "kid", "nonce"]);
        const wrong = value(2);
        const inMember = ["account", "oldKey"].includes(member) ? "innerPayload" : "innerProtected";
        what = `key change with inner ${member}=${JSON.stringify(wrong)?.slice(0, 60)}`;
        const innerPayload = { account: acct.kid, oldKey: acct.key.jwk, ...(inMember === "innerPayload" ? { [member]: wrong } : {}) };
        res = await acct.keyChange(await generateAccountKey(pick(["ES256", "ES384", "EdDSA"] as const)), {
          innerPayload,
          innerProtected: inMember === "innerProtected" ? { [member]: wrong } : {},
        });
      } else if (kind < 0.8) {
        // a signed request whose JWS body is reshaped after signing
        const field = pick(["protected", "payload", "signature", "header", "extra"]);
        const replacement = value(1);
        what = `tampered ${field}=${JSON.stringify(replacement)?.slice(0, 60)}`;
        res = await acct.post(url, {}, { tamper: (jws) => ({ ...jws, [field]: replacement }) });
      } else {
        // whatever bytes, with whatever method and content type
        method = pick(["POST", "POST", "PUT", "PATCH", "DELETE", "GET", "HEAD", "OPTIONS"]);
        const body = method === "GET" || method === "HEAD" ? undefined : pick([JSON.stringify(value(0)) ?? "", "{", "\u0000\u0001", "x".repeat(70_000), "[1,2"]);
        const contentType = pick(["application/jose+json", "application/json", "text/plain", "application/jose+json; charset=utf-8", "multipart/form-data"]);
        what = `${method} ${contentType} ${body?.slice(0, 40)}`;
        res = await acct.request(method, url, body, body === undefined ? {} : { "content-type": contentType });
      }
      const problem = /application\/problem\+json/.test(res.headers.get("content-type") ?? "");
      const typed = typeof res.body === "object" && res.body !== null && /^urn:ietf:params:acme:error:[a-zA-Z]+$/.test(res.body.type);
      // a HEAD response has no body: its headers say what a GET's would
      const ok = method === "HEAD" ? problem : problem && typed;
      if (res.status >= 500 || (res.status >= 400 && !ok)) {
        failures.push(`#${i} ${what} at ${url} → ${res.status} ${res.text.slice(0, 160)}`);
      }
    }
    expect(failures).toEqual([]);
    // still working: the account and its order answer (the order may be invalid by now: a random {} to its
    // challenge starts a validation that nobody answers)
    expect((await acct.post(acct.kid!, "")).status).toBe(200);
    const order = await acct.post(urls[7]!, "");
    expect(order.status).toBe(200);
    expect(["pending", "invalid"]).toContain(order.body.status);
  }, 180_000);
});
