// tls-alpn-01 (RFC 8737) and IP-address certificates (RFC 8738) against a real Anvil process:
// lego (Debian's 4.9) with its own tls-alpn-01 listener for one and two names, and acme-client
// ordering 127.0.0.1 and ::1 through http-01 and through tls-alpn-01 (answered by a small node:tls
// server holding acme-client's own acme-tls/1 certificates). Every certificate is checked with openssl.
import { writeFile } from "node:fs/promises";
import { Agent } from "node:https";
import { join } from "node:path";
import tls from "node:tls";
import * as acme from "acme-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttp01Responder, type Http01Responder } from "../helpers/acme.js";
import { startStack, type E2eStack } from "../helpers/anvil-process.js";
import {
  freePort, makeTempDir, opensslDnsNames, opensslSans, opensslVerify, removeTempDir, requireTools, run, splitPem,
  type RunResult,
} from "../helpers/tools.js";

const skipLego = requireTools("lego tls-alpn-01 e2e", [
  { bin: "lego", apt: "lego" },
  { bin: "openssl", apt: "openssl" },
]);
const skipIp = requireTools("IP identifier e2e", [{ bin: "openssl", apt: "openssl" }]);
const T = 60_000;

// RFC 8738 §6: the SNI for an IP identifier is its reverse-mapping name (RFC 1034 §5.2.1, RFC 3596 §2.5)
const REVERSE_NAME: Record<string, string> = {
  "127.0.0.1": "1.0.0.127.in-addr.arpa",
  "::1": `1.${"0.".repeat(31)}ip6.arpa`,
};
// openssl prints an IPv6 address in the SAN uncompressed
const OPENSSL_IP: Record<string, string> = { "127.0.0.1": "IP Address:127.0.0.1", "::1": "IP Address:0:0:0:0:0:0:0:1" };

describe.skipIf(skipLego)("lego tls-alpn-01", () => {
  let stack: E2eStack;
  let work: string;
  let tlsPort: number;
  let httpPort: number;

  beforeAll(async () => {
    [tlsPort, httpPort] = [await freePort(), await freePort()];
    stack = await startStack({ http01Port: httpPort, env: { ANVIL_TLSALPN01_PORT: String(tlsPort) } });
    work = await makeTempDir("lego-tlsalpn");
  }, T);
  afterAll(async () => {
    await stack?.stop();
    await removeTempDir(work);
  });

  function lego(solver: string[], names: string[]): Promise<RunResult> {
    return run(
      "lego",
      [
        "--server", stack.anvil.directoryUrl, "--accept-tos", "--email", "lego-tlsalpn@example.com", "--path", work,
        ...solver, ...names.flatMap((d) => ["-d", d]), "run",
      ],
      { env: { ...process.env, LEGO_CA_CERTIFICATES: stack.anvil.rootPath }, timeoutMs: T },
    );
  }
  const tlsSolver = () => ["--tls", "--tls.port", `127.0.0.1:${tlsPort}`];
  const certFile = (name: string, ext: string) => join(work, "certificates", `${name}.${ext}`);

  async function expectValidChain(first: string, names: string[]) {
    const v = await opensslVerify(stack.anvil.rootPath, certFile(first, "issuer.crt"), certFile(first, "crt"));
    expect(v.stdout + v.stderr).toMatch(/: OK/);
    expect(v.code).toBe(0);
    expect(await opensslDnsNames(certFile(first, "crt"))).toEqual([...names].sort());
  }

  it("one name, solved by lego's own acme-tls/1 listener", async () => {
    const r = await lego(tlsSolver(), ["ta1.anvil.test"]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    // lego was given no other solver, and says which one it used
    expect(r.stderr).toMatch(/\[ta1\.anvil\.test\] acme: use tls-alpn-01 solver/);
    await expectValidChain("ta1.anvil.test", ["ta1.anvil.test"]);
  }, T);

  it("a two-name order, each authorization by tls-alpn-01", async () => {
    const names = ["ta2.anvil.test", "ta3.anvil.test"];
    const r = await lego(tlsSolver(), names);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    for (const n of names) expect(r.stderr).toContain(`[${n}] acme: use tls-alpn-01 solver`);
    await expectValidChain(names[0]!, names);
  }, T);

  it("-d 127.0.0.1: lego 4.9 orders an IP as a dns identifier, which Anvil refuses (RFC 8738 §3)", async () => {
    // lego 4.9 has no RFC 8738 support: it puts every -d value in a {type: "dns"} identifier. An IP
    // address is not a domain name, so Anvil answers rejectedIdentifier and names the right type. A
    // later lego that sends {type: "ip"} gets its certificate, which is then checked like any other.
    const r = await lego(["--http", "--http.port", `127.0.0.1:${httpPort}`], ["127.0.0.1"]);
    if (r.code === 0) {
      const v = await opensslVerify(stack.anvil.rootPath, certFile("127.0.0.1", "issuer.crt"), certFile("127.0.0.1", "crt"));
      expect(v.code, v.stdout + v.stderr).toBe(0);
      expect(await opensslSans(certFile("127.0.0.1", "crt"))).toEqual([OPENSSL_IP["127.0.0.1"]]);
      return;
    }
    expect(r.stderr).toContain("urn:ietf:params:acme:error:rejectedIdentifier");
    expect(r.stderr).toContain('dns identifier "127.0.0.1": an IP address must be requested as an identifier of type "ip"');
  }, T);
});

type AcmeChallenge = acme.Authorization["challenges"][number];

interface Closeable {
  port: number;
  close(): Promise<void>;
}

/** Starts a server on ::1 (kernel-chosen port), then on 127.0.0.1 with the same port; Anvil dials
 *  whichever address the identifier is, on the one configured challenge port. */
async function onBothLoopbacks<S extends Closeable>(start: (host: string, port: number) => Promise<S>): Promise<{ v4: S; v6: S }> {
  for (let attempt = 1; ; attempt++) {
    const v6 = await start("::1", 0);
    try {
      return { v4: await start("127.0.0.1", v6.port), v6 };
    } catch (err) {
      await v6.close();
      if (attempt >= 5 || (err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    }
  }
}

interface AlpnResponder extends Closeable {
  /** each ClientHello that reached this server: the SNI and the ALPN protocols the validator offered */
  hellos: Array<{ sni: string; offered: string[] }>;
}

/** A tls-alpn-01 answerer: it selects "acme-tls/1" only when offered, and has a certificate only for
 *  an SNI it holds one for. ClientHellos are recorded from the ALPN callback, not from completed
 *  handshakes, because Anvil's validator closes the connection as soon as its side of the handshake
 *  is done, so this server usually sees a reset before its handshake completes. */
function startAlpnResponder(contexts: Map<string, tls.SecureContext>, host: string, port: number): Promise<AlpnResponder> {
  const hellos: AlpnResponder["hellos"] = [];
  const server = tls.createServer({
    ALPNCallback: ({ servername, protocols }) => {
      hellos.push({ sni: servername, offered: protocols });
      return protocols.includes("acme-tls/1") ? "acme-tls/1" : undefined;
    },
    SNICallback: (name, cb) => {
      const ctx = contexts.get(name.toLowerCase());
      if (ctx) cb(null, ctx);
      else cb(new Error(`no acme-tls/1 certificate for SNI "${name}"`));
    },
  });
  server.on("secureConnection", (s) => s.end());
  server.on("tlsClientError", () => undefined);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const { port: bound } = server.address() as { port: number };
      resolve({ port: bound, hellos, close: () => new Promise<void>((r) => server.close(() => r())) });
    });
  });
}

describe.skipIf(skipIp)("acme-client: IP-address certificates (RFC 8738)", () => {
  let http: { v4: Http01Responder; v6: Http01Responder };
  let alpn: { v4: AlpnResponder; v6: AlpnResponder };
  const alpnContexts = new Map<string, tls.SecureContext>();
  let stack: E2eStack;
  let work: string;

  beforeAll(async () => {
    http = await onBothLoopbacks((host, port) => startHttp01Responder({ host, port }));
    alpn = await onBothLoopbacks((host, port) => startAlpnResponder(alpnContexts, host, port));
    stack = await startStack({ http01Port: http.v4.port, env: { ANVIL_TLSALPN01_PORT: String(alpn.v4.port) } });
    work = await makeTempDir("ip-certs");
    acme.axios.defaults.httpsAgent = new Agent({ ca: stack.anvil.rootPem });
  }, T);
  afterAll(async () => {
    await stack?.stop();
    await removeTempDir(work);
    for (const s of [http?.v4, http?.v6, alpn?.v4, alpn?.v6]) await s?.close();
  });

  // A fresh account per test: Anvil reuses an account's valid authorizations, which would let the
  // second order through without any challenge.
  const newClient = async () => {
    const client = new acme.Client({
      directoryUrl: stack.anvil.directoryUrl,
      accountKey: await acme.crypto.createPrivateEcdsaKey(),
      backoffAttempts: 30, backoffMin: 100, backoffMax: 1000,
    });
    await client.createAccount({ termsOfServiceAgreed: true });
    return client;
  };

  /** Orders the IPs step by step, answering each authorization's `type` challenge through `answer`. */
  async function issue(
    ips: string[],
    type: "http-01" | "tls-alpn-01",
    answer: (authz: acme.Authorization, challenge: AcmeChallenge, keyAuthorization: string) => Promise<void>,
  ): Promise<string> {
    const client = await newClient();
    const order = await client.createOrder({ identifiers: ips.map((value) => ({ type: "ip", value })) });
    for (const authz of await client.getAuthorizations(order)) {
      expect(authz.identifier.type).toBe("ip");
      const challenge = authz.challenges.find((c) => c.type === type);
      expect(challenge, JSON.stringify(authz)).toBeDefined();
      await answer(authz, challenge!, await client.getChallengeKeyAuthorization(challenge!));
      await client.completeChallenge(challenge!);
      const done = await client.waitForValidStatus(challenge!);
      expect(done.status).toBe("valid");
    }
    const [, csr] = await acme.crypto.createCsr({ altNames: [...ips] }, await acme.crypto.createPrivateEcdsaKey());
    const finalized = await client.finalizeOrder(order, csr);
    return client.getCertificate(await client.waitForValidStatus(finalized));
  }

  /** openssl verifies the leaf up to Anvil's root, and the SAN holds exactly the IP addresses. */
  async function expectIpCertificate(tag: string, pem: string, ips: string[]) {
    const [leaf, ...chain] = splitPem(pem);
    expect(chain.length).toBeGreaterThan(0);
    const leafPath = join(work, `${tag}.pem`);
    const chainPath = join(work, `${tag}-chain.pem`);
    await writeFile(leafPath, `${leaf}\n`);
    await writeFile(chainPath, `${chain.join("\n")}\n`);
    const v = await opensslVerify(stack.anvil.rootPath, chainPath, leafPath);
    expect(v.stdout + v.stderr).toMatch(/: OK/);
    expect(v.code).toBe(0);
    expect((await opensslSans(leafPath)).sort()).toEqual(ips.map((ip) => OPENSSL_IP[ip]).sort());
  }

  it("127.0.0.1 and ::1 by http-01: each address is dialled itself, with the address as Host", async () => {
    const ips = ["127.0.0.1", "::1"];
    const seen = { v4: http.v4.requests.length, v6: http.v6.requests.length };
    const pem = await issue(ips, "http-01", async (_a, c, keyAuthorization) => {
      for (const r of [http.v4, http.v6]) r.set(c.token, keyAuthorization);
    });
    await expectIpCertificate("ip-http01", pem, ips);
    const path = /^\/\.well-known\/acme-challenge\/[A-Za-z0-9_-]+$/;
    const v4 = http.v4.requests.slice(seen.v4);
    const v6 = http.v6.requests.slice(seen.v6);
    expect(v4.length).toBeGreaterThan(0);
    expect(v6.length).toBeGreaterThan(0);
    for (const r of v4) expect(r).toEqual({ host: `127.0.0.1:${http.v4.port}`, path: expect.stringMatching(path) });
    for (const r of v6) expect(r).toEqual({ host: `[::1]:${http.v6.port}`, path: expect.stringMatching(path) });
  }, T);

  it("127.0.0.1 and ::1 by tls-alpn-01: SNI is the reverse-DNS name (RFC 8738 §6)", async () => {
    const ips = ["127.0.0.1", "::1"];
    const seen = { v4: alpn.v4.hellos.length, v6: alpn.v6.hellos.length };
    const pem = await issue(ips, "tls-alpn-01", async (authz, _c, keyAuthorization) => {
      // acme-client's own acme-tls/1 certificate: the identifier as the only SAN (an iPAddress here)
      // and the critical acmeIdentifier extension holding SHA-256 of the key authorization
      const [key, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization, await acme.crypto.createPrivateEcdsaKey());
      expect(acme.crypto.isAlpnCertificateAuthorizationValid(cert, keyAuthorization)).toBe(true);
      alpnContexts.set(REVERSE_NAME[authz.identifier.value]!, tls.createSecureContext({ key, cert }));
    });
    await expectIpCertificate("ip-tlsalpn01", pem, ips);
    // each address was dialled itself, with its reverse name as SNI and only acme-tls/1 offered (RFC 8737 §3)
    const v4 = alpn.v4.hellos.slice(seen.v4);
    const v6 = alpn.v6.hellos.slice(seen.v6);
    expect(v4.length).toBeGreaterThan(0);
    expect(v6.length).toBeGreaterThan(0);
    for (const h of v4) expect(h).toEqual({ sni: REVERSE_NAME["127.0.0.1"], offered: ["acme-tls/1"] });
    for (const h of v6) expect(h).toEqual({ sni: REVERSE_NAME["::1"], offered: ["acme-tls/1"] });
  }, T);
});
