// http-01 against real HTTP(S) servers on loopback, with names answered by the dns2 test server.
import { randomBytes } from "node:crypto";
import { KeyObject } from "node:crypto";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import * as x509 from "@peculiar/x509";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createResolver, createVA, type VAConfig } from "../../src/va/index.js";
import { startTestDns, type TestDns } from "../helpers/dnsserver.js";

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

interface Web {
  port: number;
  routes: Map<string, Handler>;
  seen: Array<{ host?: string; path?: string }>;
  connections: number;
  close(): Promise<void>;
}

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanup.length) await cleanup.pop()!();
});

function serve(server: http.Server | https.Server, host: string, port = 0): Promise<Web> {
  const web: Web = { port: 0, routes: new Map(), seen: [], connections: 0, close: async () => undefined };
  server.on("connection", () => web.connections++);
  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    web.seen.push({ host: req.headers.host, path: req.url });
    const handler = web.routes.get(req.url ?? "");
    if (handler) handler(req, res);
    else res.writeHead(404).end("not found");
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      web.port = (server.address() as net.AddressInfo).port;
      web.close = () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        });
      cleanup.push(web.close);
      resolve(web);
    });
  });
}

async function selfSignedTls(): Promise<{ key: string; cert: string }> {
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=redirect target",
    keys,
    signingAlgorithm: alg,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "dns", value: "secure.test" }])],
  });
  const key = KeyObject.from(keys.privateKey).export({ type: "pkcs8", format: "pem" }) as string;
  return { key, cert: cert.toString("pem") };
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

let dns: TestDns;
beforeAll(async () => {
  dns = await startTestDns();
});
afterAll(async () => {
  await dns.close();
});

function challenge() {
  const token = randomBytes(32).toString("base64url");
  return { token, keyAuthorization: `${token}.${randomBytes(32).toString("base64url")}`, path: `/.well-known/acme-challenge/${token}` };
}

function newVA(config: Partial<VAConfig> & { httpPort: number }) {
  const resolver = createResolver({ server: dns.address, timeoutMs: 2000 });
  return createVA({ resolver, config: { tlsAlpnPort: 443, timeoutMs: 5000, ...config } });
}

const dnsId = (value: string) => ({ type: "dns" as const, value });
const text = (body: string): Handler => (_req, res) => res.writeHead(200, { "content-type": "text/plain" }).end(body);
const redirect = (location: string, status = 302): Handler => (_req, res) => res.writeHead(status, { location }).end();

describe("http-01: valid", () => {
  it("fetches the key authorization from the name, connecting to its address with the Host header", async () => {
    const web = await serve(http.createServer(), "127.0.0.1");
    const c = challenge();
    dns.setA("ok.test", ["127.0.0.1"]);
    web.routes.set(c.path, text(c.keyAuthorization));
    const result = await newVA({ httpPort: web.port }).validate({ type: "http-01", identifier: dnsId("ok.test"), ...c });
    expect(result.problem).toBeUndefined();
    expect(result.records).toEqual([
      {
        url: `http://ok.test:${web.port}${c.path}`,
        hostname: "ok.test",
        port: String(web.port),
        addressesResolved: ["127.0.0.1"],
        addressUsed: "127.0.0.1",
      },
    ]);
    expect(web.seen).toEqual([{ host: `ok.test:${web.port}`, path: c.path }]);
  });

  it("allows trailing whitespace after the key authorization", async () => {
    const web = await serve(http.createServer(), "127.0.0.1");
    const c = challenge();
    dns.setA("ws.test", ["127.0.0.1"]);
    web.routes.set(c.path, text(`${c.keyAuthorization} \r\n\t\n`));
    const result = await newVA({ httpPort: web.port }).validate({ type: "http-01", identifier: dnsId("ws.test"), ...c });
    expect(result.problem).toBeUndefined();
  });

  it("prefers IPv6 when the name has both families", async () => {
    const web = await serve(http.createServer(), "::1");
    const c = challenge();
    dns.setA("dual.test", ["127.0.0.1"]);
    dns.setAAAA("dual.test", ["::1"]);
    web.routes.set(c.path, text(c.keyAuthorization));
    const result = await newVA({ httpPort: web.port }).validate({ type: "http-01", identifier: dnsId("dual.test"), ...c });
    expect(result.problem).toBeUndefined();
    expect(result.records.map((r) => [r.addressUsed, r.addressesResolved])).toEqual([["::1", ["::1", "127.0.0.1"]]]);
  });

  it("falls back to IPv4 when nothing listens on the IPv6 address, recording both attempts", async () => {
    const web = await serve(http.createServer(), "127.0.0.1");
    const c = challenge();
    dns.setA("fallback.test", ["127.0.0.1"]);
    dns.setAAAA("fallback.test", ["::1"]);
    web.routes.set(c.path, text(c.keyAuthorization));
    const result = await newVA({ httpPort: web.port }).validate({ type: "http-01", identifier: dnsId("fallback.test"), ...c });
    expect(result.problem).toBeUndefined();
    expect(result.records.map((r) => r.addressUsed)).toEqual(["::1", "127.0.0.1"]);
    expect(result.records.every((r) => r.url === `http://fallback.test:${web.port}${c.path}`)).toBe(true);
  });

  it("validates an IPv4 identifier by connecting to it, with the address as Host", async () => {
    const web = await serve(http.createServer(), "127.0.0.1");
    const c = challenge();
    web.routes.set(c.path, text(c.keyAuthorization));
    const result = await newVA({ httpPort: web.port }).validate({ type: "http-01", identifier: { type: "ip", value: "127.0.0.1" }, ...c });
    expect(result.problem).toBeUndefined();
    expect(result.records[0]).toMatchObject({ hostname: "127.0.0.1", addressUsed: "127.0.0.1", url: `http://127.0.0.1:${web.port}${c.path}` });
    expect(web.seen[0]?.host).toBe(`127.0.0.1:${web.port}`);
  });

  it("validates an IPv6 identifier with the address in brackets as Host", async () => {
    const web = await serve(http.createServer(), "::1");
    const c = challenge();
    web.routes.set(c.path, text(c.keyAuthorization));
    const result = await newVA({ httpPort: web.port }).validate({ type: "http-01", identifier: { type: "ip", value: "0:0:0:0:0:0:0:1" }, ...c });
    expect(result.problem).toBeUndefined();
    expect(result.records[0]).toMatchObject({ hostname: "::1", addressUsed: "::1", url: `http://[::1]:${web.port}${c.path}` });
    expect(web.seen[0]?.host).toBe(`[::1]:${web.port}`);
  });
});

describe("http-01: problems", () => {
  async function run(setup: (web: Web, c: ReturnType<typeof challenge>) => void, config: Partial<VAConfig> = {}, name = "p.test") {
    const web = await serve(http.createServer(), "127.0.0.1");
    const c = challenge();
    dns.setA(name, ["127.0.0.1"]);
    setup(web, c);
    const result = await newVA({ httpPort: web.port, ...config }).validate({ type: "http-01", identifier: dnsId(name), ...c });
    return { web, c, result, problem: result.problem! };
  }

  it("404 is unauthorized, naming the status and URL", async () => {
    const { web, c, problem } = await run(() => undefined);
    expect(problem.type).toBe("urn:ietf:params:acme:error:unauthorized");
    expect(problem.status).toBe(403);
    expect(problem.detail).toBe(`Invalid response from http://p.test:${web.port}${c.path}: HTTP 404`);
  });

  it("a wrong body is incorrectResponse, with the expected and received values", async () => {
    const { c, problem } = await run((web, c) => web.routes.set(c.path, text("not the key authorization")));
    expect(problem.type).toBe("urn:ietf:params:acme:error:incorrectResponse");
    expect(problem.detail).toContain(`Expected "${c.keyAuthorization}" (got "not the key authorization")`);
  });

  it("truncates a long received value in the detail", async () => {
    const { problem } = await run((web, c) => web.routes.set(c.path, text("y".repeat(5000))));
    expect(problem.type).toBe("urn:ietf:params:acme:error:incorrectResponse");
    expect(problem.detail).toContain(`(got "${"y".repeat(64)}…" (5000 characters))`);
  });

  it("a body over maxBodyBytes is incorrectResponse", async () => {
    const { problem } = await run((web, c) => web.routes.set(c.path, text(c.keyAuthorization + " ".repeat(20_000))));
    expect(problem.type).toBe("urn:ietf:params:acme:error:incorrectResponse");
    expect(problem.detail).toMatch(/is longer than 16384 bytes/);
  });

  it("maxBodyBytes is configurable", async () => {
    const { problem } = await run((web, c) => web.routes.set(c.path, text(c.keyAuthorization)), { maxBodyBytes: 10 });
    expect(problem.detail).toMatch(/is longer than 10 bytes/);
  });

  it("connection refused is a connection problem naming address and port", async () => {
    const port = await closedPort();
    dns.setA("refused.test", ["127.0.0.1"]);
    const c = challenge();
    const result = await newVA({ httpPort: port }).validate({ type: "http-01", identifier: dnsId("refused.test"), ...c });
    expect(result.problem?.type).toBe("urn:ietf:params:acme:error:connection");
    expect(result.problem?.detail).toBe(`Error connecting to refused.test: 127.0.0.1:${port}: Connection refused`);
    expect(result.records).toHaveLength(1);
  });

  it("a server that never answers ends as a connection timeout", async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const sockets = new Set<net.Socket>();
    silent.on("connection", (s) => sockets.add(s));
    cleanup.push(() => new Promise((r) => { for (const s of sockets) s.destroy(); silent.close(() => r()); }));
    dns.setA("slow.test", ["127.0.0.1"]);
    const c = challenge();
    const port = (silent.address() as net.AddressInfo).port;
    const result = await newVA({ httpPort: port, timeoutMs: 400 }).validate({ type: "http-01", identifier: dnsId("slow.test"), ...c });
    expect(result.problem?.type).toBe("urn:ietf:params:acme:error:connection");
    expect(result.problem?.detail).toMatch(/Timeout after connect/);
  });

  it("NXDOMAIN and SERVFAIL are dns problems naming the name, type and resolver", async () => {
    dns.setFail("servfail.test", "SERVFAIL");
    const va = newVA({ httpPort: 80 });
    const nx = await va.validate({ type: "http-01", identifier: dnsId("nowhere.test"), ...challenge() });
    expect(nx.problem?.type).toBe("urn:ietf:params:acme:error:dns");
    expect(nx.problem?.detail).toBe(
      `DNS problem: NXDOMAIN looking up A for nowhere.test - check that a DNS record exists for this domain; resolver ${dns.address}`,
    );
    const sf = await va.validate({ type: "http-01", identifier: dnsId("servfail.test"), ...challenge() });
    expect(sf.problem?.type).toBe("urn:ietf:params:acme:error:dns");
    expect(sf.problem?.detail).toMatch(new RegExp(`SERVFAIL looking up A for servfail\\.test .*resolver ${dns.address}`));
  });

  it("a name without addresses is a dns problem", async () => {
    dns.setTxt("noaddr.test", ["x"]);
    const result = await newVA({ httpPort: 80 }).validate({ type: "http-01", identifier: dnsId("noaddr.test"), ...challenge() });
    expect(result.problem?.type).toBe("urn:ietf:params:acme:error:dns");
    expect(result.problem?.detail).toBe("DNS problem: no valid A or AAAA records found for noaddr.test");
  });

  it("never dials a denied address: denyPrivate, denyCidrs, link-local", async () => {
    const web = await serve(http.createServer(), "127.0.0.1");
    dns.setA("private.test", ["127.0.0.1"]);
    dns.setA("metadata.test", ["169.254.169.254"]);
    const strict = newVA({ httpPort: web.port, denyPrivate: true });
    const byName = await strict.validate({ type: "http-01", identifier: dnsId("private.test"), ...challenge() });
    expect(byName.problem?.type).toBe("urn:ietf:params:acme:error:rejectedIdentifier");
    expect(byName.problem?.detail).toMatch(/private\.test resolves only to addresses that this CA does not connect to: 127\.0\.0\.1 is a loopback address/);
    expect(byName.records).toEqual([{ url: expect.any(String), hostname: "private.test", port: String(web.port), addressesResolved: ["127.0.0.1"] }]);

    const cidr = newVA({ httpPort: web.port, denyCidrs: ["127.0.0.0/30"] });
    const byIp = await cidr.validate({ type: "http-01", identifier: { type: "ip", value: "127.0.0.1" }, ...challenge() });
    expect(byIp.problem?.type).toBe("urn:ietf:params:acme:error:rejectedIdentifier");
    expect(byIp.problem?.detail).toMatch(/127\.0\.0\.1: it is in 127\.0\.0\.0\/30/);

    const meta = await newVA({ httpPort: web.port }).validate({ type: "http-01", identifier: dnsId("metadata.test"), ...challenge() });
    expect(meta.problem?.detail).toMatch(/169\.254\.169\.254 is a link-local address/);
    expect(web.connections).toBe(0);
  });

  it("a lookup that outlasts the validation's time limit is a dns timeout", async () => {
    const resolver = { servers: ["hung"], lookupHost: () => new Promise<never>(() => undefined), lookupTxt: () => new Promise<never>(() => undefined) };
    const va = createVA({ resolver, config: { httpPort: 80, tlsAlpnPort: 443, timeoutMs: 200 } });
    const result = await va.validate({ type: "http-01", identifier: dnsId("hung.test"), ...challenge() });
    expect(result.problem?.type).toBe("urn:ietf:params:acme:error:dns");
    expect(result.problem?.detail).toBe("DNS problem: timeout looking up A/AAAA for hung.test - the query timed out; resolver hung");
  });

  it("a resolver that throws becomes a dns problem, not an exception", async () => {
    const resolver = {
      servers: ["fake"],
      lookupHost: () => Promise.reject(new Error("resolver exploded")),
      lookupTxt: () => Promise.reject(new Error("resolver exploded")),
    };
    const va = createVA({ resolver, config: { httpPort: 80, tlsAlpnPort: 443, timeoutMs: 1000 } });
    const result = await va.validate({ type: "http-01", identifier: dnsId("x.test"), ...challenge() });
    expect(result.problem?.type).toBe("urn:ietf:params:acme:error:dns");
    expect(result.problem?.detail).toBe("DNS problem: looking up A/AAAA for x.test: resolver exploded");
  });
});

describe("http-01: redirects", () => {
  async function setup(config: Partial<VAConfig> = {}) {
    const web = await serve(http.createServer(), "127.0.0.1");
    const c = challenge();
    dns.setA("r.test", ["127.0.0.1"]);
    const va = newVA({ httpPort: web.port, ...config });
    const validate = () => va.validate({ type: "http-01", identifier: dnsId("r.test"), ...c });
    return { web, c, validate };
  }

  it("follows a redirect to another name, re-resolving and recording each hop", async () => {
    const { web, c, validate } = await setup();
    dns.setA("other.test", ["127.0.0.1"]);
    web.routes.set(c.path, redirect(`http://other.test:${web.port}/moved?x=1`, 301));
    web.routes.set("/moved?x=1", text(c.keyAuthorization));
    const result = await validate();
    expect(result.problem).toBeUndefined();
    expect(result.records.map((r) => [r.hostname, r.url])).toEqual([
      ["r.test", `http://r.test:${web.port}${c.path}`],
      ["other.test", `http://other.test:${web.port}/moved?x=1`],
    ]);
    expect(web.seen.map((s) => s.host)).toEqual([`r.test:${web.port}`, `other.test:${web.port}`]);
  });

  it("follows a relative redirect", async () => {
    const { web, c, validate } = await setup();
    web.routes.set(c.path, redirect("/elsewhere", 307));
    web.routes.set("/elsewhere", text(c.keyAuthorization));
    expect((await validate()).problem).toBeUndefined();
  });

  it("detects a redirect loop", async () => {
    const { web, c, validate } = await setup();
    web.routes.set(c.path, redirect("/a"));
    web.routes.set("/a", redirect("/b"));
    web.routes.set("/b", redirect("/a"));
    const result = await validate();
    expect(result.problem?.type).toBe("urn:ietf:params:acme:error:connection");
    expect(result.problem?.detail).toMatch(/^Redirect loop detected: .*\/b redirects to .*\/a, which was already visited$/);
    expect(result.records).toHaveLength(3);
  });

  it("stops after maxRedirects", async () => {
    const { web, c, validate } = await setup({ maxRedirects: 3 });
    web.routes.set(c.path, redirect("/hop/1"));
    for (let i = 1; i < 10; i++) web.routes.set(`/hop/${i}`, redirect(`/hop/${i + 1}`));
    const result = await validate();
    expect(result.problem?.type).toBe("urn:ietf:params:acme:error:connection");
    expect(result.problem?.detail).toMatch(/^Too many redirects: more than 3, the last from .*\/hop\/3 to .*\/hop\/4$/);
    expect(result.records).toHaveLength(4);
  });

  it("refuses a redirect to a port other than the http-01 port", async () => {
    const { web, c, validate } = await setup();
    web.routes.set(c.path, redirect(`http://r.test:${web.port + 1}/x`));
    const result = await validate();
    expect(result.problem?.type).toBe("urn:ietf:params:acme:error:connection");
    expect(result.problem?.detail).toContain(`port ${web.port + 1} is not allowed`);
    expect(web.seen).toHaveLength(1);
  });

  it("refuses a redirect to http on the default port when the http-01 port is another", async () => {
    const { web, c, validate } = await setup();
    web.routes.set(c.path, redirect("http://r.test/x"));
    expect((await validate()).problem?.detail).toContain("port 80 is not allowed");
  });

  it("refuses a scheme other than http and https", async () => {
    const { web, c, validate } = await setup();
    web.routes.set(c.path, redirect("ftp://r.test/x"));
    const result = await validate();
    expect(result.problem?.type).toBe("urn:ietf:params:acme:error:connection");
    expect(result.problem?.detail).toContain(`only "http" and "https" are supported, not "ftp"`);
  });

  it("follows https on the tls-alpn-01 port without verifying the certificate", async () => {
    const secure = await serve(https.createServer(await selfSignedTls()), "127.0.0.1");
    const { web, c, validate } = await setup({ tlsAlpnPort: secure.port });
    dns.setA("secure.test", ["127.0.0.1"]);
    web.routes.set(c.path, redirect(`https://secure.test:${secure.port}/tls`));
    secure.routes.set("/tls", text(c.keyAuthorization));
    const result = await validate();
    expect(result.problem).toBeUndefined();
    expect(result.records[1]).toMatchObject({ url: `https://secure.test:${secure.port}/tls`, hostname: "secure.test", port: String(secure.port) });
    expect(secure.seen[0]?.host).toBe(`secure.test:${secure.port}`);
  });

  it("refuses https on the http-01 port", async () => {
    const { web, c, validate } = await setup();
    web.routes.set(c.path, redirect(`https://r.test:${web.port}/x`));
    expect((await validate()).problem?.detail).toContain(`port ${web.port} is not allowed`);
  });

  it("re-checks the address policy on every hop", async () => {
    const { web, c, validate } = await setup();
    dns.setA("inside.test", ["169.254.10.10"]);
    web.routes.set(c.path, redirect(`http://inside.test:${web.port}/x`));
    const result = await validate();
    expect(result.problem?.type).toBe("urn:ietf:params:acme:error:connection");
    expect(result.problem?.detail).toMatch(/inside\.test resolves only to addresses .*169\.254\.10\.10 is a link-local address/);
    expect(result.records[1]).toEqual({
      url: `http://inside.test:${web.port}/x`,
      hostname: "inside.test",
      port: String(web.port),
      addressesResolved: ["169.254.10.10"],
    });
  });

  it("a redirect status without Location is unauthorized", async () => {
    const { web, c, validate } = await setup();
    web.routes.set(c.path, (_req, res) => res.writeHead(302).end());
    const result = await validate();
    expect(result.problem?.type).toBe("urn:ietf:params:acme:error:unauthorized");
    expect(result.problem?.detail).toMatch(/HTTP 302 \(a redirect without a Location header\)$/);
  });
});
