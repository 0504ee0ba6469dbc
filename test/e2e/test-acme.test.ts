// The test ACME client (test/helpers/acme.ts) against a real Anvil process, so that integration
// tests can rely on its convenience calls: every JWS algorithm, key rollover, revocation by the
// certificate's key, and the alternate chain.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  generateAccountKey, JWS_ALGS, keyFromPem, startHttp01Responder, TestAcme, type Http01Responder,
} from "../helpers/acme.js";
import { startStack, type E2eStack } from "../helpers/anvil-process.js";
import { makeTempDir, opensslDnsNames, opensslVerify, pemToDer, removeTempDir, requireTools, splitPem } from "../helpers/tools.js";

const skip = requireTools("TestAcme e2e", [{ bin: "openssl", apt: "openssl" }]);
const T = 120_000;

describe.skipIf(skip)("TestAcme against Anvil", () => {
  let stack: E2eStack;
  let responder: Http01Responder;
  let work: string;
  const client = (opts: Parameters<typeof TestAcme.create>[1] = {}) =>
    TestAcme.create(stack.anvil.directoryUrl, { ca: stack.anvil.rootPem, ...opts });

  beforeAll(async () => {
    responder = await startHttp01Responder();
    stack = await startStack({ http01Port: responder.port });
    work = await makeTempDir("test-acme");
  }, T);
  afterAll(async () => {
    await stack?.stop();
    await responder?.close();
    await removeTempDir(work);
  });

  it.each(JWS_ALGS)("%s account: issue() yields a chain openssl accepts", async (alg) => {
    const acme = await client({ alg });
    const acct = await acme.newAccount();
    expect(acct.status).toBe(201);
    const name = `t-${alg.toLowerCase()}.anvil.test`;
    const { certPem } = await acme.issue([name], responder);
    const [leaf, ...chain] = splitPem(certPem);
    await writeFile(join(work, `${alg}.pem`), leaf);
    await writeFile(join(work, `${alg}-chain.pem`), chain.join("\n"));
    const v = await opensslVerify(stack.anvil.rootPath, join(work, `${alg}-chain.pem`), join(work, `${alg}.pem`));
    expect(v.code).toBe(0);
    expect(await opensslDnsNames(join(work, `${alg}.pem`))).toEqual([name]);
  }, T);

  it("keyChange: the new key finds the account, the old one does not", async () => {
    const acme = await client({ alg: "ES256" });
    await acme.newAccount();
    const kid = acme.kid!;
    const oldKey = acme.key;
    const res = await acme.keyChange(await generateAccountKey("EdDSA"));
    expect(res.status).toBe(200);
    const byNew = await client({ key: acme.key });
    expect((await byNew.newAccount({ onlyReturnExisting: true })).location).toBe(kid);
    const byOld = await client({ key: oldKey });
    const gone = await byOld.newAccount({ onlyReturnExisting: true });
    expect([gone.status, gone.body.type]).toEqual([400, "urn:ietf:params:acme:error:accountDoesNotExist"]);
  }, T);

  it("revoke with the certificate's own key; then alreadyRevoked", async () => {
    const acme = await client();
    await acme.newAccount();
    const { certPem, csr } = await acme.issue(["t-revoke.anvil.test"], responder);
    const certKey = await keyFromPem(csr.privateKeyPem);
    const stranger = await client({ key: certKey });
    const first = await stranger.revoke(pemToDer(certPem), 1, { key: certKey });
    expect(first.status).toBe(200);
    const again = await stranger.revoke(pemToDer(certPem), 1, { key: certKey });
    expect([again.status, again.body.type]).toEqual([400, "urn:ietf:params:acme:error:alreadyRevoked"]);
  }, T);
});
