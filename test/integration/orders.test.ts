// Orders, authorizations, challenges, finalize, download and revocation (RFC 8555 §7.4–7.6) over
// real HTTPS, with real http-01 validation against a responder on loopback.
import { X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeCsr, type TestAcme } from "../helpers/acme.js";
import { ERR, startInProc, type InProc } from "../helpers/inproc.js";
import { pemToDer, splitPem } from "../helpers/tools.js";
import { keyPair } from "../helpers/keygen.js";

let env: InProc;
let acct: TestAcme;
beforeAll(async () => {
  env = await startInProc();
  acct = await env.account();
});
afterAll(async () => env?.close());

async function validate(c: TestAcme, authzUrl: string) {
  const authz = await c.authz(authzUrl);
  const ch = authz.body.challenges.find((x: any) => x.type === "http-01");
  env.responder.set(ch.token, c.keyAuthorization(ch.token));
  const res = await c.respond(ch.url);
  expect(res.status).toBe(200);
  expect(res.links("up")).toEqual([authzUrl]);
  return c.poll(authzUrl, ["valid", "invalid"]);
}

describe("newOrder", () => {
  it("lower-cases and de-duplicates identifiers; a pending order has authorizations and Retry-After", async () => {
    const res = await acct.post(acct.directory.newOrder, {
      identifiers: [
        { type: "dns", value: "WWW.Anvil.TEST" },
        { type: "dns", value: "www.anvil.test" },
        { type: "dns", value: "anvil.test" },
      ],
    });
    expect(res.status).toBe(201);
    expect(res.location).toMatch(/\/acme\/order\//);
    expect(res.body.status).toBe("pending");
    expect(res.body.identifiers).toEqual([
      { type: "dns", value: "anvil.test" },
      { type: "dns", value: "www.anvil.test" },
    ]);
    expect(res.body.authorizations).toHaveLength(2);
    expect(res.headers.get("retry-after")).toBeTruthy();
    expect(new Date(res.body.expires).getTime()).toBeGreaterThan(Date.now());
  });

  it("a wildcard offers only dns-01 and its authorization is for the base name", async () => {
    const res = await acct.newOrder(["*.wild.anvil.test"]);
    expect(res.status).toBe(201);
    const authz = await acct.authz(res.body.authorizations[0]);
    expect(authz.body.identifier).toEqual({ type: "dns", value: "wild.anvil.test" });
    expect(authz.body.wildcard).toBe(true);
    expect(authz.body.challenges.map((c: any) => c.type)).toEqual(["dns-01"]);
  });

  it("an IP identifier offers http-01 and tls-alpn-01 (RFC 8738)", async () => {
    const res = await acct.post(acct.directory.newOrder, { identifiers: [{ type: "ip", value: "::1" }] });
    expect(res.status).toBe(201);
    const authz = await acct.authz(res.body.authorizations[0]);
    expect(authz.body.challenges.map((c: any) => c.type).sort()).toEqual(["http-01", "tls-alpn-01"]);
  });

  it("several bad identifiers → rejectedIdentifier with a subproblem each", async () => {
    const res = await acct.post(acct.directory.newOrder, {
      identifiers: [
        { type: "dns", value: "good.anvil.test" },
        { type: "dns", value: "bad_name.anvil.test" },
        { type: "dns", value: "*.*.anvil.test" },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body.type).toBe(ERR("rejectedIdentifier"));
    expect(res.body.subproblems).toHaveLength(2);
    for (const sp of res.body.subproblems) expect(sp.identifier.type).toBe("dns");
  });

  it.each([
    [{ identifiers: [] }, "malformed"],
    [{ identifiers: "a.anvil.test" }, "malformed"],
    [{ identifiers: [{ type: "email", value: "a@anvil.test" }] }, "unsupportedIdentifier"],
    [{ identifiers: [{ type: "ip", value: "999.1.1.1" }] }, "malformed"],
    [{ identifiers: [{ type: "dns", value: "a.anvil.test" }], notAfter: "tomorrow" }, "malformed"],
    [{ identifiers: [{ type: "dns", value: "a.anvil.test" }], notAfter: "2000-01-01T00:00:00Z" }, "malformed"],
    [{ identifiers: [{ type: "dns", value: "a.anvil.test" }], notAfter: new Date(Date.now() + 5 * 365 * 86400e3).toISOString() }, "malformed"],
  ])("%j → %s", async (payload, type) => {
    const res = await acct.post(acct.directory.newOrder, payload);
    expect(res.status).toBe(400);
    expect(res.body.type).toBe(ERR(type));
  });

  it("notBefore/notAfter within the maximum are honoured in the certificate", async () => {
    const notBefore = new Date(Date.now() + 3600e3);
    notBefore.setUTCMilliseconds(0);
    const notAfter = new Date(notBefore.getTime() + 10 * 86400e3);
    const order = await acct.newOrder(["window.anvil.test"], { notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString() });
    expect(order.status).toBe(201);
    expect(order.body.notBefore).toBe(notBefore.toISOString());
    await validate(acct, order.body.authorizations[0]);
    const csr = await makeCsr(["window.anvil.test"]);
    const fin = await acct.finalize(order.body, csr.der);
    expect(fin.body.status).toBe("valid");
    const pem = (await acct.certificate(fin.body.certificate)).text;
    const leaf = new X509Certificate(splitPem(pem)[0]!);
    expect(new Date(leaf.validFrom).getTime()).toBe(notBefore.getTime());
    expect(new Date(leaf.validTo).getTime()).toBe(notAfter.getTime());
  });

  it("another account cannot read the order or its authorizations", async () => {
    const order = await acct.newOrder(["private.anvil.test"]);
    const other = await env.account();
    expect((await other.post(order.location!, "")).body.type).toBe(ERR("unauthorized"));
    expect((await other.post(order.body.authorizations[0], "")).body.type).toBe(ERR("unauthorized"));
  });
});

describe("validation and the state machines (§7.1.6)", () => {
  it("pending → ready → valid, with a validation record", async () => {
    const order = await acct.newOrder(["sm.anvil.test"]);
    const authz = await validate(acct, order.body.authorizations[0]);
    expect(authz.body.status).toBe("valid");
    const ch = authz.body.challenges[0];
    expect(ch.status).toBe("valid");
    expect(ch.validated).toBeTruthy();
    expect(ch.validationRecord[0]).toMatchObject({ hostname: "sm.anvil.test", port: String(env.responder.port), addressUsed: "127.0.0.1" });
    expect((await acct.post(order.location!, "")).body.status).toBe("ready");
  });

  it("a wrong response makes the challenge, the authorization and the order invalid", async () => {
    const order = await acct.newOrder(["wrong.anvil.test"]);
    const authzUrl = order.body.authorizations[0];
    const authz = await acct.authz(authzUrl);
    const ch = authz.body.challenges.find((x: any) => x.type === "http-01");
    env.responder.set(ch.token, "not-the-key-authorization");
    await acct.respond(ch.url);
    const done = await acct.poll(authzUrl, ["valid", "invalid"]);
    expect(done.body.status).toBe("invalid");
    const failed = done.body.challenges.find((x: any) => x.type === "http-01");
    expect(failed.error.type).toBe(ERR("incorrectResponse"));
    const o = await acct.post(order.location!, "");
    expect(o.body.status).toBe("invalid");
    expect(o.body.error).toBeTruthy();
    const fin = await acct.finalize(o.body, (await makeCsr(["wrong.anvil.test"])).der);
    expect(fin.status).toBe(403);
    expect(fin.body.type).toBe(ERR("orderNotReady"));
  });

  it("responding again to a challenge answers its current state", async () => {
    const order = await acct.newOrder(["twice.anvil.test"]);
    const authzUrl = order.body.authorizations[0];
    await validate(acct, authzUrl);
    const authz = await acct.authz(authzUrl);
    const again = await acct.respond(authz.body.challenges[0].url);
    expect(again.status).toBe(200);
    expect(again.body.status).toBe("valid");
  });

  it("an answer from another account → unauthorized, and the challenge does not start", async () => {
    const order = await acct.newOrder(["theirs.anvil.test"]);
    const authz = await acct.authz(order.body.authorizations[0]);
    const ch = authz.body.challenges.find((x: any) => x.type === "http-01");
    const other = await env.account();
    const res = await other.respond(ch.url);
    expect(res.status).toBe(403);
    expect(res.body.type).toBe(ERR("unauthorized"));
    expect((await env.anvil.sa.getChallenge(ch.url.split("/").pop()))!.challenge).toMatchObject({ status: "pending", attempts: 0 });
    expect((await other.respond(ch.url.replace(/[^/]+$/, "no-such-challenge"))).status).toBe(404);
  });

  it("an answer to a challenge of a deactivated authorization → malformed, and nothing starts", async () => {
    const order = await acct.newOrder(["gone.anvil.test"]);
    const authzUrl = order.body.authorizations[0];
    const ch = (await acct.authz(authzUrl)).body.challenges.find((x: any) => x.type === "http-01");
    expect((await acct.post(authzUrl, { status: "deactivated" })).status).toBe(200);
    const res = await acct.respond(ch.url);
    expect(res.status).toBe(400);
    expect(res.body.type).toBe(ERR("malformed"));
    expect((await env.anvil.sa.getChallenge(ch.url.split("/").pop()))!.challenge).toMatchObject({ status: "pending", attempts: 0 });
  });

  it("valid authorizations are reused by the next order of the same account", async () => {
    const first = await acct.newOrder(["reuse.anvil.test"]);
    await validate(acct, first.body.authorizations[0]);
    const second = await acct.newOrder(["reuse.anvil.test"]);
    expect(second.body.authorizations).toEqual(first.body.authorizations);
    expect(second.body.status).toBe("ready");
  });

  it("deactivating an authorization (§7.5.2) makes its order invalid", async () => {
    const order = await acct.newOrder(["deact.anvil.test"]);
    const res = await acct.post(order.body.authorizations[0], { status: "deactivated" });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("deactivated");
    expect((await acct.post(order.location!, "")).body.status).toBe("invalid");
    const again = await acct.post(order.body.authorizations[0], { status: "deactivated" });
    expect(again.body.type).toBe(ERR("malformed"));
  });

  it("finalize before the authorizations are valid → orderNotReady", async () => {
    const order = await acct.newOrder(["early.anvil.test"]);
    const res = await acct.finalize(order.body, (await makeCsr(["early.anvil.test"])).der);
    expect(res.status).toBe(403);
    expect(res.body.type).toBe(ERR("orderNotReady"));
  });
});

describe("finalize checks the CSR", () => {
  async function readyOrder(names: string[]) {
    const order = await acct.newOrder(names);
    for (const a of order.body.authorizations) await validate(acct, a);
    return order;
  }

  it.each([
    ["a name not in the order", ["csr1.anvil.test", "extra.anvil.test"], "badCSR"],
    ["a missing name", [], "badCSR"],
  ])("%s → %s", async (_n, extra, type) => {
    const order = await readyOrder(["csr1.anvil.test", "csr2.anvil.test"]);
    const names = extra.length ? extra : ["csr1.anvil.test"];
    const res = await acct.finalize(order.body, (await makeCsr(names)).der);
    expect(res.body.type).toBe(ERR(type));
    // the order is still ready: a correct CSR works afterwards
    const ok = await acct.finalize(order.body, (await makeCsr(["csr1.anvil.test", "csr2.anvil.test"])).der);
    expect(ok.body.status).toBe("valid");
  });

  /** A refused CSR leaves the order ready, with nothing stored of the attempt. */
  async function stillReady(order: { location: string | null }) {
    expect((await acct.post(order.location!, "")).body.status).toBe("ready");
    const stored = await env.anvil.sa.getOrderCsr(order.location!.split("/").pop()!);
    expect(stored).toBeUndefined();
  }

  it("a CN that is not one of the identifiers → badCSR", async () => {
    const order = await readyOrder(["cn.anvil.test"]);
    const res = await acct.finalize(order.body, (await makeCsr(["cn.anvil.test"], "ES256", { cn: "other.anvil.test" })).der);
    expect(res.body.type).toBe(ERR("badCSR"));
    await stillReady(order);
  });

  it("another account's finalize → unauthorized, and the order stays the owner's to finalize", async () => {
    const order = await readyOrder(["owner.anvil.test"]);
    const other = await env.account();
    const res = await other.finalize(order.body, (await makeCsr(["owner.anvil.test"])).der);
    expect(res.status).toBe(403);
    expect(res.body.type).toBe(ERR("unauthorized"));
    await stillReady(order);
    expect((await acct.finalize(order.body, (await makeCsr(["owner.anvil.test"])).der)).body.status).toBe("valid");
  });

  it("a second finalize of a valid order → orderNotReady; of an unknown order → 404", async () => {
    const order = await readyOrder(["twice.anvil.test"]);
    const csr = (await makeCsr(["twice.anvil.test"])).der;
    expect((await acct.finalize(order.body, csr)).body.status).toBe("valid");
    const again = await acct.finalize(order.body, csr);
    expect(again.status).toBe(403);
    expect(again.body).toMatchObject({ type: ERR("orderNotReady"), detail: expect.stringMatching(/order is valid/) });
    const unknown = await acct.post(order.body.finalize.replace(/\/order\/[^/]+\//, "/order/no-such-order/"), { csr: Buffer.from(csr).toString("base64url") });
    expect(unknown.status).toBe(404);
  });

  it("garbage → badCSR; a tampered CSR signature → badCSR", async () => {
    const order = await readyOrder(["garbage.anvil.test"]);
    expect((await acct.post(order.body.finalize, { csr: "AAAA" })).body.type).toBe(ERR("badCSR"));
    const csr = await makeCsr(["garbage.anvil.test"]);
    const der = Buffer.from(csr.der);
    der[der.length - 5] ^= 0xff;
    expect((await acct.finalize(order.body, der)).body.type).toBe(ERR("badCSR"));
    await stillReady(order);
  });

  it("a weak key (RSA 1024) → badPublicKey", async () => {
    const order = await readyOrder(["weak.anvil.test"]);
    const { execFileSync } = await import("node:child_process");
    const { privateKey } = await keyPair("rsa", { modulusLength: 1024 });
    const { writeFileSync } = await import("node:fs");
    const keyPath = `${env.dataDir}/weak.key`;
    writeFileSync(keyPath, privateKey.export({ type: "pkcs8", format: "pem" }));
    const der = execFileSync("openssl", ["req", "-new", "-key", keyPath, "-outform", "DER", "-subj", "/CN=weak.anvil.test", "-addext", "subjectAltName=DNS:weak.anvil.test"]);
    const res = await acct.finalize(order.body, new Uint8Array(der));
    expect(res.body.type).toBe(ERR("badPublicKey"));
    await stillReady(order);
  });

  it("the account key as the certificate key → badCSR", async () => {
    const order = await readyOrder(["samekey.anvil.test"]);
    const x509 = await import("@peculiar/x509");
    const { webcrypto } = await import("node:crypto");
    const priv = await webcrypto.subtle.importKey("pkcs8", acct.key.privateKey.export({ type: "pkcs8", format: "der" }), { name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]);
    const pub = await webcrypto.subtle.importKey("jwk", acct.key.jwk as import("node:crypto").webcrypto.JsonWebKey, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      keys: { privateKey: priv, publicKey: pub },
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "samekey.anvil.test" }])],
    });
    const res = await acct.finalize(order.body, new Uint8Array(csr.rawData));
    expect(res.body.type).toBe(ERR("badCSR"));
    expect(res.body.detail).toMatch(/account key/);
    await stillReady(order);
  });
});

describe("certificates and revocation", () => {
  it("downloads leaf + intermediate, with an alternate chain up to the root", async () => {
    const { certResponse, order } = await acct.issue(["dl.anvil.test", "www.dl.anvil.test"], env.responder);
    expect(certResponse.headers.get("content-type")).toMatch(/^application\/pem-certificate-chain/);
    const chain = splitPem(certResponse.text);
    expect(chain).toHaveLength(2);
    const leaf = new X509Certificate(chain[0]!);
    expect(leaf.subjectAltName).toContain("DNS:dl.anvil.test");
    expect(leaf.checkIssued(new X509Certificate(chain[1]!))).toBe(true);
    const alt = certResponse.links("alternate");
    expect(alt).toHaveLength(1);
    const altRes = await acct.post(alt[0]!, "");
    const altChain = splitPem(altRes.text);
    expect(altChain).toHaveLength(3);
    expect(altChain[2]).toBe(splitPem(env.rootPem)[0]);
    expect(altRes.links("alternate")).toEqual([order.certificate]);
  });

  it("the root and intermediate are served at /roots/0 and /intermediates/0", async () => {
    const base = env.directoryUrl.replace(/\/directory$/, "");
    const root = await acct.request("GET", `${base}/roots/0`);
    expect(root.status).toBe(200);
    expect(root.text.trim()).toBe(env.rootPem.trim());
    expect((await acct.request("GET", `${base}/intermediates/0`)).text).toMatch(/BEGIN CERTIFICATE/);
    expect((await acct.request("GET", `${base}/roots/7`)).status).toBe(404);
  });

  it("revocation by the issuing account; a second time → alreadyRevoked", async () => {
    const { certPem } = await acct.issue(["rev1.anvil.test"], env.responder);
    const der = pemToDer(certPem);
    const res = await acct.revoke(der, 4);
    expect(res.status).toBe(200);
    const again = await acct.revoke(der, 4);
    expect(again.body.type).toBe(ERR("alreadyRevoked"));
  });

  it("revocation by a stranger → unauthorized; by an account with valid authorizations for every name → ok", async () => {
    const { certPem } = await acct.issue(["rev2.anvil.test"], env.responder);
    const der = pemToDer(certPem);
    const stranger = await env.account();
    const denied = await stranger.revoke(der);
    expect(denied.status).toBe(403);
    expect(denied.body.type).toBe(ERR("unauthorized"));
    const order = await stranger.newOrder(["rev2.anvil.test"]);
    await validate(stranger, order.body.authorizations[0]);
    expect((await stranger.revoke(der, 1)).status).toBe(200);
  });

  it("revocation signed by the certificate's own key (jwk)", async () => {
    const { certPem, csr } = await acct.issue(["rev3.anvil.test"], env.responder);
    const { keyFromPem } = await import("../helpers/acme.js");
    const certKey = await keyFromPem(csr.privateKeyPem, "ES256");
    const c = await env.client();
    const res = await c.revoke(pemToDer(certPem), 1, { key: certKey });
    expect(res.status).toBe(200);
  });

  it.each([7, 11, -1, "1"])("reason %j → badRevocationReason", async (reason) => {
    const { certPem } = await acct.issue([`reason${String(reason).replace(/\W/g, "x")}.anvil.test`], env.responder);
    const res = await acct.post(acct.directory.revokeCert, { certificate: Buffer.from(pemToDer(certPem)).toString("base64url"), reason });
    expect(res.body.type).toBe(ERR("badRevocationReason"));
  });

  it("a certificate this CA did not issue → 404 malformed", async () => {
    const root = pemToDer(env.rootPem);
    const res = await acct.revoke(root);
    expect(res.status).toBe(404);
  });
});
