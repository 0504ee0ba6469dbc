// certbot (Debian's 2.1) against a real Anvil process: account life cycle, http-01 with certbot's
// standalone server, key types, renewal, preferred chain and revocation. Each step is checked
// with openssl and, where certbot shows nothing, by asking Anvil with certbot's own account key.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyFromJwk, keyFromPem, TestAcme } from "../helpers/acme.js";
import { startStack, type E2eStack } from "../helpers/anvil-process.js";
import {
  freePort, makeTempDir, opensslDnsNames, opensslName, opensslPublicKeyAlgorithm, opensslSerial, opensslVerify,
  pemToDer, removeTempDir, requireTools, runOk, splitPem, type RunResult,
} from "../helpers/tools.js";

const skip = requireTools("certbot e2e", [
  { bin: "certbot", apt: "certbot" },
  { bin: "openssl", apt: "openssl" },
]);
const T = 120_000;
const ERR = "urn:ietf:params:acme:error:";

describe.skipIf(skip)("certbot e2e", () => {
  let stack: E2eStack;
  let work: string;
  let httpPort: number;

  beforeAll(async () => {
    httpPort = await freePort();
    stack = await startStack({ http01Port: httpPort });
    work = await makeTempDir("certbot");
  }, T);
  afterAll(async () => {
    await stack?.stop();
    await removeTempDir(work);
  });

  function certbot(...args: string[]): Promise<RunResult> {
    return runOk(
      "certbot",
      [
        ...args,
        "--server", stack.anvil.directoryUrl,
        "--non-interactive", "--agree-tos", "--no-eff-email",
        "--config-dir", join(work, "cfg"), "--work-dir", join(work, "wrk"), "--logs-dir", join(work, "logs"),
      ],
      { env: { ...process.env, REQUESTS_CA_BUNDLE: stack.anvil.rootPath }, timeoutMs: T },
    );
  }

  function certonly(name: string, domains: string[], ...extra: string[]): Promise<RunResult> {
    const standalone = ["--standalone", "--preferred-challenges", "http", "--http-01-port", String(httpPort), "--http-01-address", "127.0.0.1"];
    return certbot("certonly", ...standalone, "--cert-name", name, ...domains.flatMap((d) => ["-d", d]), ...extra);
  }

  const live = (name: string, file: string) => join(work, "cfg", "live", name, file);

  async function expectValidChain(name: string, domains: string[]) {
    const v = await opensslVerify(stack.anvil.rootPath, live(name, "chain.pem"), live(name, "cert.pem"));
    expect(v.stdout + v.stderr).toMatch(/: OK/);
    expect(v.code).toBe(0);
    expect(await opensslDnsNames(live(name, "cert.pem"))).toEqual([...domains].sort());
  }

  /** Anvil's view of certbot's account, through certbot's stored key and account URL. */
  async function certbotAccount(): Promise<TestAcme> {
    const accountDir = await findAccountDir(join(work, "cfg", "accounts"));
    const regr = JSON.parse(await readFile(join(accountDir, "regr.json"), "utf8")) as { uri: string };
    const jwk = JSON.parse(await readFile(join(accountDir, "private_key.json"), "utf8")) as import("node:crypto").JsonWebKey;
    return TestAcme.create(stack.anvil.directoryUrl, { ca: stack.anvil.rootPem, key: await keyFromJwk(jwk), kid: regr.uri });
  }

  it("registers an account", async () => {
    await certbot("register", "--register-unsafely-without-email");
    const acme = await certbotAccount();
    expect(acme.kid!.startsWith(`${stack.anvil.baseUrl}/`)).toBe(true);
    const acct = await acme.post(acme.kid!, "");
    expect(acct.status).toBe(200);
    expect(acct.body.status).toBe("valid");
  }, T);

  it("issues for one name with an ECDSA key (http-01, standalone)", async () => {
    await certonly("one", ["c1.anvil.test"], "--key-type", "ecdsa", "--elliptic-curve", "secp256r1");
    await expectValidChain("one", ["c1.anvil.test"]);
    expect(await opensslPublicKeyAlgorithm(live("one", "cert.pem"))).toBe("id-ecPublicKey");
    const full = splitPem(await readFile(live("one", "fullchain.pem"), "utf8"));
    expect(full).toHaveLength(2); // leaf + intermediate, the default chain
  }, T);

  it("issues one certificate for three names with an RSA key", async () => {
    const names = ["c2.anvil.test", "c3.anvil.test", "c4.anvil.test"];
    await certonly("three", names, "--key-type", "rsa", "--rsa-key-size", "2048");
    await expectValidChain("three", names);
    expect(await opensslPublicKeyAlgorithm(live("three", "cert.pem"))).toBe("rsaEncryption");
  }, T);

  it("renews with --force-renewal into a new certificate", async () => {
    const before = await opensslSerial(live("one", "cert.pem"));
    await certbot("renew", "--cert-name", "one", "--force-renewal", "--no-random-sleep-on-renew");
    const after = await opensslSerial(live("one", "cert.pem"));
    expect(after).not.toBe(before);
    await expectValidChain("one", ["c1.anvil.test"]);
  }, T);

  it("--preferred-chain with the root's CN fetches the alternates and picks a chain up to that root", async () => {
    // certbot picks the first chain whose topmost certificate was issued by that CN. The default
    // chain's intermediate already is, so it wins; the alternate (ending with the root) is
    // checked directly in acme-client.test.ts. Here certbot must download and parse both.
    const rootCn = await opensslName(stack.anvil.rootPath, "subject");
    expect(rootCn).toBeTruthy();
    await certonly("preferred", ["c5.anvil.test"], "--preferred-chain", rootCn!);
    await expectValidChain("preferred", ["c5.anvil.test"]);
    const chain = splitPem(await readFile(live("preferred", "chain.pem"), "utf8"));
    const topPath = join(work, "top.pem");
    await writeFile(topPath, chain[chain.length - 1]);
    expect(await opensslName(topPath, "issuer")).toBe(rootCn);
  }, T);

  it("revokes with reason keyCompromise; Anvil then reports the certificate as already revoked", async () => {
    await certbot("revoke", "--cert-path", live("three", "cert.pem"), "--reason", "keycompromise", "--no-delete-after-revoke");
    const certKey = await keyFromPem(await readFile(live("three", "privkey.pem")));
    const acme = await TestAcme.create(stack.anvil.directoryUrl, { ca: stack.anvil.rootPem, key: certKey });
    const again = await acme.revoke(pemToDer(await readFile(live("three", "cert.pem"), "utf8")), 1, { key: certKey });
    expect(again.status).toBe(400);
    expect(again.body.type).toBe(`${ERR}alreadyRevoked`);
  }, T);

  it("update_account sets the contact", async () => {
    await certbot("update_account", "-m", "certbot-e2e@example.com");
    const acme = await certbotAccount();
    const acct = await acme.post(acme.kid!, "");
    expect(acct.status).toBe(200);
    expect(acct.body.contact).toEqual(["mailto:certbot-e2e@example.com"]);
  }, T);

  it("unregister deactivates the account; Anvil refuses its key afterwards", async () => {
    const acme = await certbotAccount(); // read before certbot deletes its local copy
    await certbot("unregister");
    const acct = await acme.post(acme.kid!, "");
    expect(acct.status).toBe(403);
    expect(acct.body.type).toBe(`${ERR}unauthorized`);
  }, T);
});

async function findAccountDir(root: string): Promise<string> {
  const entries = await readdir(root, { recursive: true });
  const regr = entries.find((e) => e.endsWith("regr.json"));
  if (!regr) throw new Error(`no certbot account under ${root}`);
  return join(root, regr, "..");
}
