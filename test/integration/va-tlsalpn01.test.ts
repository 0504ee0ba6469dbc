// tls-alpn-01 against real TLS servers on loopback, with certificates built by @peculiar/x509 in
// each case: the right one, and each way a client can get it wrong.
import { createHash, KeyObject, randomBytes } from "node:crypto";
import net from "node:net";
import tls from "node:tls";
import * as x509 from "@peculiar/x509";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createResolver, createVA, type VAConfig } from "../../src/va/index.js";
import { startTestDns, type TestDns } from "../helpers/dnsserver.js";

const ACME_ID_OID = "1.3.6.1.5.5.7.1.31";
const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

interface CertSpec {
  sans: Array<{ type: "dns" | "ip"; value: string }>;
  /** the acmeIdentifier extension: omitted when null */
  acmeId?: { value: Uint8Array; critical: boolean; oid?: string } | null;
}

/** RFC 8737 §3 by hand: extnValue = DER OCTET STRING (04 20) of SHA-256(key authorization). */
function derDigest(keyAuthorization: string): Uint8Array {
  return Buffer.concat([Buffer.from([0x04, 0x20]), createHash("sha256").update(keyAuthorization).digest()]);
}

async function makeCert(spec: CertSpec): Promise<{ key: string; cert: string }> {
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const extensions: x509.Extension[] = [new x509.SubjectAlternativeNameExtension(spec.sans)];
  if (spec.acmeId) extensions.push(new x509.Extension(spec.acmeId.oid ?? ACME_ID_OID, spec.acmeId.critical, spec.acmeId.value));
  const cert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: "01", name: "CN=acme", keys, signingAlgorithm: alg, extensions });
  return { key: KeyObject.from(keys.privateKey).export({ type: "pkcs8", format: "pem" }) as string, cert: cert.toString("pem") };
}

interface TlsServer {
  port: number;
  servernames: string[];
  connections: number;
}

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (open.length) await open.pop()!();
});

async function serveTls(creds: { key: string; cert: string }, opts: { host?: string; alpn?: string[] | null } = {}): Promise<TlsServer> {
  const alpn = opts.alpn === undefined ? ["acme-tls/1"] : opts.alpn;
  const state: TlsServer = { port: 0, servernames: [], connections: 0 };
  // SNI is recorded while the ClientHello is processed, so before the client can finish its handshake
  const SNICallback = (name: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => {
    state.servernames.push(name);
    cb(null, undefined);
  };
  const server = tls.createServer({ ...creds, SNICallback, ...(alpn ? { ALPNProtocols: alpn } : {}) });
  server.on("connection", () => state.connections++);
  server.on("secureConnection", (s) => {
    s.on("error", () => undefined);
    s.end();
  });
  server.on("tlsClientError", () => undefined);
  await new Promise<void>((r) => server.listen(0, opts.host ?? "127.0.0.1", r));
  state.port = (server.address() as net.AddressInfo).port;
  open.push(() => new Promise<void>((r) => server.close(() => r())));
  return state;
}

let dns: TestDns;
beforeAll(async () => {
  dns = await startTestDns();
  dns.setA("alpn.test", ["127.0.0.1"]);
});
afterAll(async () => {
  await dns.close();
});

function challenge() {
  const token = randomBytes(32).toString("base64url");
  return { token, keyAuthorization: `${token}.${randomBytes(32).toString("base64url")}` };
}

function validate(port: number, c: ReturnType<typeof challenge>, identifier = { type: "dns" as "dns" | "ip", value: "alpn.test" }, config: Partial<VAConfig> = {}) {
  const resolver = createResolver({ server: dns.address, timeoutMs: 2000 });
  const va = createVA({ resolver, config: { httpPort: 80, tlsAlpnPort: port, timeoutMs: 5000, ...config } });
  return va.validate({ type: "tls-alpn-01", identifier, ...c });
}

const good = (c: ReturnType<typeof challenge>, sans: CertSpec["sans"] = [{ type: "dns", value: "alpn.test" }]) =>
  makeCert({ sans, acmeId: { value: derDigest(c.keyAuthorization), critical: true } });

describe("tls-alpn-01: valid", () => {
  it("accepts the RFC 8737 certificate, sending the name as SNI", async () => {
    const c = challenge();
    const server = await serveTls(await good(c));
    const result = await validate(server.port, c);
    expect(result.problem).toBeUndefined();
    expect(result.records).toEqual([{ hostname: "alpn.test", port: String(server.port), addressesResolved: ["127.0.0.1"], addressUsed: "127.0.0.1" }]);
    expect(server.servernames).toEqual(["alpn.test"]);
  });

  it("matches the dNSName case-insensitively", async () => {
    const c = challenge();
    const server = await serveTls(await good(c, [{ type: "dns", value: "ALPN.Test" }]));
    expect((await validate(server.port, c)).problem).toBeUndefined();
  });

  it("validates an IPv4 identifier with the in-addr.arpa name as SNI (RFC 8738 §6)", async () => {
    const c = challenge();
    const server = await serveTls(await good(c, [{ type: "ip", value: "127.0.0.1" }]));
    const result = await validate(server.port, c, { type: "ip", value: "127.0.0.1" });
    expect(result.problem).toBeUndefined();
    expect(server.servernames).toEqual(["1.0.0.127.in-addr.arpa"]);
  });

  it("validates an IPv6 identifier with the ip6.arpa name as SNI", async () => {
    const c = challenge();
    const server = await serveTls(await good(c, [{ type: "ip", value: "::1" }]), { host: "::1" });
    const result = await validate(server.port, c, { type: "ip", value: "::1" });
    expect(result.problem).toBeUndefined();
    expect(server.servernames).toEqual([`1.${"0.".repeat(31)}ip6.arpa`]);
  });

  it("falls back to IPv4 when nothing listens on the IPv6 address", async () => {
    const c = challenge();
    dns.setA("dual-alpn.test", ["127.0.0.1"]);
    dns.setAAAA("dual-alpn.test", ["::1"]);
    const server = await serveTls(await good(c, [{ type: "dns", value: "dual-alpn.test" }]));
    const result = await validate(server.port, c, { type: "dns", value: "dual-alpn.test" });
    expect(result.problem).toBeUndefined();
    expect(result.records.map((r) => r.addressUsed)).toEqual(["::1", "127.0.0.1"]);
  });
});

describe("tls-alpn-01: problems", () => {
  const INCORRECT = "urn:ietf:params:acme:error:incorrectResponse";
  const TLS = "urn:ietf:params:acme:error:tls";

  it("a server that does not negotiate ALPN is a tls problem", async () => {
    const c = challenge();
    const server = await serveTls(await good(c), { alpn: null });
    const { problem } = await validate(server.port, c);
    expect(problem?.type).toBe(TLS);
    expect(problem?.detail).toBe(
      `The server at 127.0.0.1:${server.port} selected no protocol; for tls-alpn-01 it must negotiate the ALPN protocol ` +
        `"acme-tls/1" when the client offers it with SNI "alpn.test" (RFC 8737 §3)`,
    );
  });

  it("a server that offers only other ALPN protocols fails the handshake: a tls problem", async () => {
    const c = challenge();
    const server = await serveTls(await good(c), { alpn: ["h2", "http/1.1"] });
    const { problem } = await validate(server.port, c);
    expect(problem?.type).toBe(TLS);
    expect(problem?.detail).toMatch(new RegExp(`^Error in the TLS handshake with alpn\\.test at 127\\.0\\.0\\.1:${server.port} \\(SNI "alpn\\.test", ALPN "acme-tls/1"\\): .*no application protocol`, "i"));
  });

  it("a missing acmeIdentifier extension is incorrectResponse", async () => {
    const c = challenge();
    const server = await serveTls(await makeCert({ sans: [{ type: "dns", value: "alpn.test" }], acmeId: null }));
    const { problem } = await validate(server.port, c);
    expect(problem?.type).toBe(INCORRECT);
    expect(problem?.detail).toBe(`The certificate presented by 127.0.0.1:${server.port} has no acmeIdentifier extension (1.3.6.1.5.5.7.1.31, RFC 8737 §3)`);
  });

  it("a non-critical acmeIdentifier extension is incorrectResponse", async () => {
    const c = challenge();
    const server = await serveTls(await makeCert({ sans: [{ type: "dns", value: "alpn.test" }], acmeId: { value: derDigest(c.keyAuthorization), critical: false } }));
    const { problem } = await validate(server.port, c);
    expect(problem?.type).toBe(INCORRECT);
    expect(problem?.detail).toMatch(/acmeIdentifier extension that is not marked critical/);
  });

  it("a wrong digest is incorrectResponse, showing both digests", async () => {
    const c = challenge();
    const other = derDigest("someone else's key authorization");
    const server = await serveTls(await makeCert({ sans: [{ type: "dns", value: "alpn.test" }], acmeId: { value: other, critical: true } }));
    const { problem } = await validate(server.port, c);
    expect(problem?.type).toBe(INCORRECT);
    const expected = createHash("sha256").update(c.keyAuthorization).digest("hex");
    expect(problem?.detail).toContain(`wrong digest: got ${Buffer.from(other.subarray(2)).toString("hex")}, expected SHA-256("${c.keyAuthorization}") = ${expected}`);
  });

  it("a bare digest without the OCTET STRING wrapping is incorrectResponse saying so", async () => {
    const c = challenge();
    const bare = createHash("sha256").update(c.keyAuthorization).digest();
    const server = await serveTls(await makeCert({ sans: [{ type: "dns", value: "alpn.test" }], acmeId: { value: bare, critical: true } }));
    const { problem } = await validate(server.port, c);
    expect(problem?.type).toBe(INCORRECT);
    expect(problem?.detail).toMatch(/bare 32-byte digest; its value must be the DER encoding of an OCTET STRING/);
  });

  it("the obsolete draft OID is named", async () => {
    const c = challenge();
    const server = await serveTls(
      await makeCert({ sans: [{ type: "dns", value: "alpn.test" }], acmeId: { value: derDigest(c.keyAuthorization), critical: true, oid: "1.3.6.1.5.5.7.1.30.1" } }),
    );
    const { problem } = await validate(server.port, c);
    expect(problem?.detail).toMatch(/obsolete draft OID 1\.3\.6\.1\.5\.5\.7\.1\.30\.1/);
  });

  it("an extra SAN is incorrectResponse, listing the names", async () => {
    const c = challenge();
    const server = await serveTls(await good(c, [{ type: "dns", value: "alpn.test" }, { type: "dns", value: "extra.test" }]));
    const { problem } = await validate(server.port, c);
    expect(problem?.type).toBe(INCORRECT);
    expect(problem?.detail).toBe(
      `The certificate presented by 127.0.0.1:${server.port} has 2 subjectAltName entries (dns:"alpn.test", dns:"extra.test"); ` +
        `it must have exactly one, the dNSName "alpn.test"`,
    );
  });

  it("a SAN for another name, or of another type, is incorrectResponse", async () => {
    const c = challenge();
    const other = await serveTls(await good(c, [{ type: "dns", value: "other.test" }]));
    expect((await validate(other.port, c)).problem?.detail).toMatch(/names dns:"other\.test" in its subjectAltName; it must name the dNSName "alpn\.test"$/);
    const ipForName = await serveTls(await good(c, [{ type: "ip", value: "127.0.0.1" }]));
    expect((await validate(ipForName.port, c)).problem?.detail).toMatch(/names ip:"127\.0\.0\.1"/);
    const wrongIp = await serveTls(await good(c, [{ type: "ip", value: "127.0.0.2" }]));
    const ipResult = await validate(wrongIp.port, c, { type: "ip", value: "127.0.0.1" });
    expect(ipResult.problem?.detail).toMatch(/it must name the iPAddress 127\.0\.0\.1$/);
  });

  it("connection refused is a connection problem", async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const { port } = s.address() as net.AddressInfo;
    await new Promise<void>((r) => s.close(() => r()));
    const { problem } = await validate(port, challenge());
    expect(problem?.type).toBe("urn:ietf:params:acme:error:connection");
    expect(problem?.detail).toBe(`Error connecting to alpn.test: 127.0.0.1:${port}: Connection refused`);
  });

  it("a server that accepts but never speaks TLS ends as a connection timeout", async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => sockets.add(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    open.push(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); silent.close(() => r()); }));
    const { port } = silent.address() as net.AddressInfo;
    const { problem } = await validate(port, challenge(), undefined, { timeoutMs: 300 });
    expect(problem?.type).toBe("urn:ietf:params:acme:error:connection");
    expect(problem?.detail).toBe(`Timeout during the TLS handshake with alpn.test at 127.0.0.1:${port}`);
  });

  it("a dns failure is a dns problem", async () => {
    const { problem } = await validate(443, challenge(), { type: "dns", value: "unknown-alpn.test" });
    expect(problem?.type).toBe("urn:ietf:params:acme:error:dns");
    expect(problem?.detail).toContain("NXDOMAIN looking up A for unknown-alpn.test");
  });

  it("a denied address is never dialled", async () => {
    const c = challenge();
    const server = await serveTls(await good(c));
    const { problem } = await validate(server.port, c, undefined, { denyPrivate: true });
    expect(problem?.type).toBe("urn:ietf:params:acme:error:rejectedIdentifier");
    expect(server.connections).toBe(0);
  });
});
