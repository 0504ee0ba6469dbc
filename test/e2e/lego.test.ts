// lego (Debian's 4.9) against a real Anvil process: http-01 with lego's own server for one and
// several names, RSA keys, renewal, revocation, and issuance from a CSR made by openssl.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { keyFromPem, TestAcme } from "../helpers/acme.js";
import { startStack, type E2eStack } from "../helpers/anvil-process.js";
import {
  freePort, makeTempDir, opensslDnsNames, opensslPublicKeyAlgorithm, opensslSerial, opensslVerify, pemToDer,
  removeTempDir, requireTools, runOk, splitPem, type RunResult,
} from "../helpers/tools.js";

const skip = requireTools("lego e2e", [
  { bin: "lego", apt: "lego" },
  { bin: "openssl", apt: "openssl" },
]);
const T = 120_000;

describe.skipIf(skip)("lego e2e", () => {
  let stack: E2eStack;
  let work: string;
  let httpPort: number;

  beforeAll(async () => {
    httpPort = await freePort();
    stack = await startStack({ http01Port: httpPort });
    work = await makeTempDir("lego");
  }, T);
  afterAll(async () => {
    await stack?.stop();
    await removeTempDir(work);
  });

  function lego(global: string[], command: string, ...args: string[]): Promise<RunResult> {
    return runOk(
      "lego",
      [
        "--server", stack.anvil.directoryUrl, "--accept-tos", "--email", "lego-e2e@example.com",
        "--path", work, "--http", "--http.port", `127.0.0.1:${httpPort}`, ...global, command, ...args,
      ],
      { env: { ...process.env, LEGO_CA_CERTIFICATES: stack.anvil.rootPath }, timeoutMs: T },
    );
  }

  const domains = (names: string[]) => names.flatMap((d) => ["-d", d]);
  const certFile = (name: string, ext: string) => join(work, "certificates", `${name}.${ext}`);

  /** lego writes <name>.crt (leaf + issuer) and <name>.issuer.crt. */
  async function expectValidChain(name: string, names: string[]) {
    const v = await opensslVerify(stack.anvil.rootPath, certFile(name, "issuer.crt"), certFile(name, "crt"));
    expect(v.stdout + v.stderr).toMatch(/: OK/);
    expect(v.code).toBe(0);
    expect(await opensslDnsNames(certFile(name, "crt"))).toEqual([...names].sort());
    expect(splitPem(await readFile(certFile(name, "crt"), "utf8"))).toHaveLength(2);
  }

  it("run: one name (ec256 default)", async () => {
    await lego(domains(["l1.anvil.test"]), "run");
    await expectValidChain("l1.anvil.test", ["l1.anvil.test"]);
    expect(await opensslPublicKeyAlgorithm(certFile("l1.anvil.test", "crt"))).toBe("id-ecPublicKey");
  }, T);

  it("run: several names with --key-type rsa2048", async () => {
    const names = ["l2.anvil.test", "l3.anvil.test", "l4.anvil.test"];
    await lego(["--key-type", "rsa2048", ...domains(names)], "run");
    await expectValidChain("l2.anvil.test", names);
    expect(await opensslPublicKeyAlgorithm(certFile("l2.anvil.test", "crt"))).toBe("rsaEncryption");
  }, T);

  it("renew replaces the certificate", async () => {
    const before = await opensslSerial(certFile("l1.anvil.test", "crt"));
    // More days than any certificate lives, so lego renews now.
    await lego(domains(["l1.anvil.test"]), "renew", "--days", "100000", "--no-random-sleep");
    expect(await opensslSerial(certFile("l1.anvil.test", "crt"))).not.toBe(before);
    await expectValidChain("l1.anvil.test", ["l1.anvil.test"]);
  }, T);

  it("revoke (keyCompromise); Anvil then reports the certificate as already revoked", async () => {
    const pem = await readFile(certFile("l2.anvil.test", "crt"), "utf8");
    await lego(domains(["l2.anvil.test"]), "revoke", "--keep", "--reason", "1");
    const certKey = await keyFromPem(await readFile(certFile("l2.anvil.test", "key")));
    const acme = await TestAcme.create(stack.anvil.directoryUrl, { ca: stack.anvil.rootPem, key: certKey });
    const again = await acme.revoke(pemToDer(pem), 1, { key: certKey });
    expect(again.status).toBe(400);
    expect(again.body.type).toBe("urn:ietf:params:acme:error:alreadyRevoked");
  }, T);

  it("run --csr with a CSR made by openssl", async () => {
    const key = join(work, "csr.key");
    const csr = join(work, "csr.pem");
    await runOk("openssl", [
      "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes", "-keyout", key,
      "-subj", "/CN=l5.anvil.test", "-addext", "subjectAltName=DNS:l5.anvil.test,DNS:l6.anvil.test", "-out", csr,
    ]);
    await lego(["--csr", csr], "run");
    await expectValidChain("l5.anvil.test", ["l5.anvil.test", "l6.anvil.test"]);
    // The certificate carries the CSR's key, not one lego made.
    const certPub = await runOk("openssl", ["x509", "-in", certFile("l5.anvil.test", "crt"), "-noout", "-pubkey"]);
    const keyPub = await runOk("openssl", ["pkey", "-in", key, "-pubout"]);
    expect(certPub.stdout).toBe(keyPub.stdout);
  }, T);
});
