// acme-client (npm) against a real Anvil process: auto(), the step-by-step flow, revocation, key
// rollover, contact update and account deactivation. acme-client drops the problem `type` from its
// errors, so the refusals are also checked raw with TestAcme and the same key.
import { Agent } from "node:https";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as acme from "acme-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyFromPem, startHttp01Responder, TestAcme, type Http01Responder } from "../helpers/acme.js";
import { startStack, type E2eStack } from "../helpers/anvil-process.js";
import { makeTempDir, opensslDnsNames, opensslVerify, pemToDer, removeTempDir, requireTools, splitPem } from "../helpers/tools.js";

const skip = requireTools("acme-client e2e", [{ bin: "openssl", apt: "openssl" }]);
const T = 120_000;
const ERR = "urn:ietf:params:acme:error:";

describe.skipIf(skip)("acme-client e2e", () => {
  let stack: E2eStack;
  let responder: Http01Responder;
  let work: string;

  beforeAll(async () => {
    responder = await startHttp01Responder();
    stack = await startStack({ http01Port: responder.port });
    work = await makeTempDir("acme-client");
    acme.axios.defaults.httpsAgent = new Agent({ ca: stack.anvil.rootPem });
  }, T);
  afterAll(async () => {
    await stack?.stop();
    await removeTempDir(work);
    await responder?.close();
  });

  const newClient = async (accountKey?: Buffer) =>
    new acme.Client({
      directoryUrl: stack.anvil.directoryUrl,
      accountKey: accountKey ?? (await acme.crypto.createPrivateEcdsaKey()),
      backoffAttempts: 30, backoffMin: 100, backoffMax: 1000,
    });

  /** Writes leaf and chain, then checks them with openssl against Anvil's root. */
  async function expectValidChain(tag: string, pem: string, names: string[]) {
    const [leaf, ...rest] = splitPem(pem);
    expect(rest.length).toBeGreaterThan(0);
    const leafPath = join(work, `${tag}.pem`);
    const chainPath = join(work, `${tag}-chain.pem`);
    await writeFile(leafPath, `${leaf}\n`);
    await writeFile(chainPath, `${rest.join("\n")}\n`);
    const v = await opensslVerify(stack.anvil.rootPath, chainPath, leafPath);
    expect(v.stdout + v.stderr).toMatch(/: OK/);
    expect(v.code).toBe(0);
    expect(await opensslDnsNames(leafPath)).toEqual([...names].sort());
  }

  /** TestAcme speaking for an acme-client account, to read raw responses. */
  const rawFor = async (key: Buffer, kid?: string) =>
    TestAcme.create(stack.anvil.directoryUrl, { ca: stack.anvil.rootPem, key: await keyFromPem(key), kid });

  it("auto() with http-01", async () => {
    const client = await newClient();
    const names = ["ac1.anvil.test", "ac2.anvil.test"];
    const [, csr] = await acme.crypto.createCsr({ commonName: names[0], altNames: names });
    const cert = await client.auto({
      csr,
      termsOfServiceAgreed: true,
      challengePriority: ["http-01"],
      skipChallengeVerification: true, // its self-check would resolve the name through the system DNS
      challengeCreateFn: async (_a, c, keyAuthorization) => responder.set(c.token, keyAuthorization),
      challengeRemoveFn: async (_a, c) => responder.delete(c.token),
    });
    await expectValidChain("auto", cert, names);
  }, T);

  it("step by step; the certificate's alternate chain ends with Anvil's root", async () => {
    const accountKey = await acme.crypto.createPrivateRsaKey(2048);
    const client = await newClient(accountKey);
    await client.createAccount({ termsOfServiceAgreed: true });
    const names = ["ac3.anvil.test"];
    const order = await client.createOrder({ identifiers: names.map((value) => ({ type: "dns", value })) });
    for (const authz of await client.getAuthorizations(order)) {
      const challenge = authz.challenges.find((c) => c.type === "http-01");
      expect(challenge, JSON.stringify(authz)).toBeDefined();
      responder.set(challenge!.token, await client.getChallengeKeyAuthorization(challenge!));
      await client.completeChallenge(challenge!);
      await client.waitForValidStatus(challenge!);
    }
    const [, csr] = await acme.crypto.createCsr({ commonName: names[0] });
    const finalized = await client.finalizeOrder(order, csr);
    const valid = await client.waitForValidStatus(finalized);
    const cert = await client.getCertificate(valid);
    await expectValidChain("steps", cert, names);

    const raw = await rawFor(accountKey, client.getAccountUrl());
    const res = await raw.certificate(valid.certificate!);
    expect(res.status).toBe(200);
    expect(res.text).toBe(cert);
    const alternates = res.links("alternate");
    expect(alternates.length).toBeGreaterThan(0);
    const alt = await raw.certificate(alternates[0]);
    const chain = splitPem(alt.text);
    expect(chain).toHaveLength(3);
    expect(chain[0]).toBe(splitPem(cert)[0]);
    expect(chain[2]).toBe(splitPem(stack.anvil.rootPem)[0]);
  }, T);

  it("revokeCertificate; a second revocation is refused as alreadyRevoked", async () => {
    const accountKey = await acme.crypto.createPrivateEcdsaKey();
    const client = await newClient(accountKey);
    const [, csr] = await acme.crypto.createCsr({ commonName: "ac4.anvil.test" });
    const cert = await client.auto({
      csr, termsOfServiceAgreed: true, challengePriority: ["http-01"], skipChallengeVerification: true,
      challengeCreateFn: async (_a, c, k) => responder.set(c.token, k),
      challengeRemoveFn: async (_a, c) => responder.delete(c.token),
    });
    await client.revokeCertificate(cert, { reason: 4 });
    await expect(client.revokeCertificate(cert, { reason: 4 })).rejects.toThrow();
    const raw = await rawFor(accountKey, client.getAccountUrl());
    const again = await raw.revoke(pemToDer(cert), 4);
    expect(again.status).toBe(400);
    expect(again.body.type).toBe(`${ERR}alreadyRevoked`);
  }, T);

  it("updateAccountKey: the old key no longer finds the account, the new one does", async () => {
    const oldKey = await acme.crypto.createPrivateEcdsaKey();
    const newKey = await acme.crypto.createPrivateRsaKey(2048);
    const client = await newClient(oldKey);
    await client.createAccount({ termsOfServiceAgreed: true });
    const url = client.getAccountUrl();
    await client.updateAccountKey(newKey);

    const withOld = await newClient(oldKey);
    await expect(withOld.createAccount({ onlyReturnExisting: true })).rejects.toThrow();
    const rawOld = await rawFor(oldKey);
    const lookup = await rawOld.newAccount({ onlyReturnExisting: true });
    expect(lookup.status).toBe(400);
    expect(lookup.body.type).toBe(`${ERR}accountDoesNotExist`);

    const withNew = await newClient(newKey);
    await withNew.createAccount({ onlyReturnExisting: true });
    expect(withNew.getAccountUrl()).toBe(url);
  }, T);

  it("updateAccount changes the contact", async () => {
    const client = await newClient();
    await client.createAccount({ termsOfServiceAgreed: true, contact: ["mailto:ac-old@example.com"] });
    const updated = await client.updateAccount({ contact: ["mailto:ac-new@example.com"] });
    expect(updated.contact).toEqual(["mailto:ac-new@example.com"]);
  }, T);

  it("a deactivated account is refused (unauthorized)", async () => {
    const accountKey = await acme.crypto.createPrivateEcdsaKey();
    const client = await newClient(accountKey);
    await client.createAccount({ termsOfServiceAgreed: true });
    const deactivated = await client.updateAccount({ status: "deactivated" });
    expect(deactivated.status).toBe("deactivated");
    await expect(client.createOrder({ identifiers: [{ type: "dns", value: "ac5.anvil.test" }] })).rejects.toThrow();
    const raw = await rawFor(accountKey, client.getAccountUrl());
    const order = await raw.newOrder(["ac5.anvil.test"]);
    expect(order.status).toBe(403);
    expect(order.body.type).toBe(`${ERR}unauthorized`);
  }, T);
});
