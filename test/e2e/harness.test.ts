// Tests of the e2e harness itself (test/helpers/acme.ts, anvil-process.ts, tools.ts), so that an
// e2e failure points at Anvil and not at the harness. Runs without Anvil, on loopback only.
import { createPrivateKey, verify as nodeVerify, constants } from "node:crypto";
import { createServer as createHttpsServer, type Server } from "node:https";
import { type AddressInfo } from "node:net";
import { readFile, writeFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { base64url, EmbeddedJWK, flattenedVerify } from "jose";
import {
  generateAccountKey, JWS_ALGS, keyFromPem, makeCsr, parseLinks, signJws, startHttp01Responder, TestAcme,
  type JwsAlg,
} from "../helpers/acme.js";
import { startAnvil } from "../helpers/anvil-process.js";
import {
  freePort, makeTempDir, opensslDnsNames, opensslName, opensslPublicKeyAlgorithm, opensslSans, opensslSerial,
  opensslVerify, requireTools, run, runOk, splitPem, which,
} from "../helpers/tools.js";

const skip = requireTools("harness tests", [{ bin: "openssl", apt: "openssl" }]);

describe.skipIf(skip)("e2e harness", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeTempDir("harness");
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe("JWS signing", () => {
    it.each(JWS_ALGS)("%s: jose verifies what signJws produces", async (alg) => {
      const key = await generateAccountKey(alg);
      const header = { alg, nonce: "n1", url: "https://127.0.0.1/x", jwk: key.jwk };
      const jws = await signJws(key, header, JSON.stringify({ hello: "world" }));
      const res = await flattenedVerify(jws, EmbeddedJWK);
      expect(res.protectedHeader).toEqual(header);
      expect(JSON.parse(new TextDecoder().decode(res.payload))).toEqual({ hello: "world" });
    });

    it.each(JWS_ALGS)("%s: a header that lies about alg is still signed with the key's real algorithm", async (alg) => {
      const key = await generateAccountKey(alg);
      const jws = await signJws(key, { alg: "HS256", url: "u" }, "");
      expect(JSON.parse(new TextDecoder().decode(base64url.decode(jws.protected)))).toEqual({ alg: "HS256", url: "u" });
      expect(verifyWithKey(alg, key.publicKey, jws)).toBe(true);
    });

    it.each(["ES256", "ES384", "ES512", "RS256", "EdDSA"] as JwsAlg[])("%s: keyFromPem keeps alg and thumbprint", async (alg) => {
      const key = await generateAccountKey(alg);
      const again = await keyFromPem(key.privateKey.export({ type: "pkcs8", format: "pem" }));
      expect(again.alg).toBe(alg);
      expect(again.thumbprint).toBe(key.thumbprint);
    });
  });

  it("parseLinks reads every Link header and rel list", () => {
    const h = new Headers();
    h.append("Link", '<https://a/dir>;rel="index"');
    h.append("Link", '<https://a/cert/1/1>; rel="alternate", <https://a/cert/1/2>;rel="alternate up"');
    expect(parseLinks(h, "alternate")).toEqual(["https://a/cert/1/1", "https://a/cert/1/2"]);
    expect(parseLinks(h, "index")).toEqual(["https://a/dir"]);
    expect(parseLinks(h, "up")).toEqual(["https://a/cert/1/2"]);
  });

  it.each(["ES256", "ES384", "RS256"] as const)("makeCsr %s: openssl verifies the CSR and reads its names", async (alg) => {
    const csr = await makeCsr(["a.anvil.test", "b.anvil.test", "127.0.0.1"], alg);
    const path = join(dir, `csr-${alg}.pem`);
    await writeFile(path, csr.pem);
    const out = await runOk("openssl", ["req", "-in", path, "-noout", "-verify", "-subject", "-text"]);
    expect(out.stdout + out.stderr).toMatch(/verify OK/i);
    expect(out.stdout).toMatch(/CN\s*=\s*a\.anvil\.test/);
    expect(out.stdout).toMatch(/DNS:a\.anvil\.test, DNS:b\.anvil\.test, IP Address:127\.0\.0\.1/);
    expect(createPrivateKey(csr.privateKeyPem).asymmetricKeyType).toBe(alg === "RS256" ? "rsa" : "ec");
  });

  it("http-01 responder serves known tokens and records requests", async () => {
    const r = await startHttp01Responder();
    try {
      r.set("tok1", "tok1.thumb");
      const ok = await fetch(`http://127.0.0.1:${r.port}/.well-known/acme-challenge/tok1`);
      expect([ok.status, await ok.text()]).toEqual([200, "tok1.thumb"]);
      r.delete("tok1");
      const gone = await fetch(`http://127.0.0.1:${r.port}/.well-known/acme-challenge/tok1`);
      expect(gone.status).toBe(404);
      expect(r.requests.map((q) => q.path)).toEqual([
        "/.well-known/acme-challenge/tok1",
        "/.well-known/acme-challenge/tok1",
      ]);
    } finally {
      await r.close();
    }
  });

  describe("TestAcme against a stand-in HTTPS server with a private CA", () => {
    let server: Server;
    let base: string;
    let certPem: string;
    const seen: Array<{ method: string; url: string; contentType?: string; header?: unknown; payload?: string }> = [];
    let counter = 0;

    beforeAll(async () => {
      const keyPath = join(dir, "srv.key");
      const certPath = join(dir, "srv.pem");
      await runOk("openssl", [
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
        "-subj", "/CN=harness", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", keyPath, "-out", certPath,
      ]);
      certPem = await readFile(certPath, "utf8");
      server = createHttpsServer({ key: await readFile(keyPath), cert: certPem }, (req, res) => {
        let body = "";
        req.on("data", (d: Buffer) => (body += d.toString()));
        req.on("end", async () => {
          const entry: (typeof seen)[number] = { method: req.method!, url: req.url!, contentType: req.headers["content-type"] };
          seen.push(entry);
          res.setHeader("Replay-Nonce", `nonce-${++counter}`);
          if (req.url === "/dir") return res.end(JSON.stringify(directory(base)));
          if (req.method === "HEAD") return res.end();
          const v = await flattenedVerify(JSON.parse(body), EmbeddedJWK);
          entry.header = v.protectedHeader;
          entry.payload = new TextDecoder().decode(v.payload);
          res.writeHead(201, { "content-type": "application/json", location: `${base}/acct/1` });
          res.end(JSON.stringify({ status: "valid" }));
        });
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it("refuses the server without its CA and trusts it with `ca`", async () => {
      await expect(TestAcme.create(`${base}/dir`)).rejects.toThrow(/self[- ]signed|certificate/i);
      const acme = await TestAcme.create(`${base}/dir`, { ca: certPem });
      expect(acme.directory.newAccount).toBe(`${base}/new-acct`);
    });

    it("gets a nonce once, then reuses the Replay-Nonce of each response; kid after new-account", async () => {
      const acme = await TestAcme.create(`${base}/dir`, { ca: certPem, alg: "ES384" });
      seen.length = 0;
      const first = await acme.newAccount({ termsOfServiceAgreed: true });
      expect(first.status).toBe(201);
      expect(acme.kid).toBe(`${base}/acct/1`);
      await acme.post(`${base}/echo`, "", { useJwk: true });
      expect(seen.map((s) => s.method)).toEqual(["HEAD", "POST", "POST"]);
      const [, a, b] = seen;
      expect(a.contentType).toBe("application/jose+json");
      expect(a.header).toMatchObject({ alg: "ES384", url: `${base}/new-acct`, nonce: `nonce-${counter - 2}` });
      expect(a.payload).toBe('{"termsOfServiceAgreed":true}');
      expect(b.header).toMatchObject({ url: `${base}/echo`, nonce: `nonce-${counter - 1}` });
      expect(b.payload).toBe("");
    });
  });

  describe("startAnvil with a stand-in server script", () => {
    let script: string;
    beforeAll(async () => {
      script = join(dir, "stub-main.mjs");
      await writeFile(script, STUB);
    });

    it.each(["plain", "json"])("reads the ready lines (%s) and stops the process", async (mode) => {
      const anvil = await startAnvil({ mainJs: script, env: { STUB_MODE: mode } });
      expect(anvil.directoryUrl).toBe(`https://127.0.0.1:${anvil.port}/directory`);
      expect(anvil.baseUrl).toBe(`https://127.0.0.1:${anvil.port}`);
      expect(anvil.rootPath).toBe(join(anvil.dataDir, "ca", "root.pem"));
      expect(anvil.rootPem).toBe("stub root\n");
      await anvil.stop();
      expect(anvil.child.exitCode ?? anvil.child.signalCode).not.toBeNull();
      expect(anvil.logs()).toContain("stub got SIGTERM");
    });

    it("reports an early exit with the logs", async () => {
      await expect(startAnvil({ mainJs: script, env: { STUB_MODE: "exit" } })).rejects.toThrow(
        /exited \(3\) before it was ready:[\s\S]*stub failing on purpose/,
      );
    });

    it("reports a server that never becomes ready, with the logs", async () => {
      await expect(startAnvil({ mainJs: script, env: { STUB_MODE: "silent" }, readyTimeoutMs: 4000 })).rejects.toThrow(
        /not ready after 4000 ms:[\s\S]*stub starting/,
      );
    });

    it("reuses a given data dir and keeps it", async () => {
      const dataDir = await makeTempDir("keep");
      const anvil = await startAnvil({ mainJs: script, dataDir, env: { STUB_MODE: "plain" } });
      await anvil.stop();
      expect(await readFile(join(dataDir, "ca", "root.pem"), "utf8")).toBe("stub root\n");
      await rm(dataDir, { recursive: true, force: true });
    });
  });

  describe("tools", () => {
    it("which, run and runOk", async () => {
      expect(which("openssl")).toMatch(/\/openssl$/);
      expect(which("surely-not-a-binary-anvil")).toBeNull();
      const r = await run(process.execPath, ["-e", "console.log('out'); console.error('err'); process.exit(4)"]);
      expect([r.code, r.stdout, r.stderr]).toEqual([4, "out\n", "err\n"]);
      await expect(runOk(process.execPath, ["-e", "console.error('boom'); process.exit(2)"])).rejects.toThrow(/exit 2[\s\S]*boom/);
      expect(await freePort()).toBeGreaterThan(0);
    });

    it("requireTools skips locally and throws in CI", () => {
      const saved = process.env.CI;
      try {
        delete process.env.CI;
        expect(requireTools("x", [{ bin: "surely-not-a-binary-anvil", apt: "pkg-x" }])).toBe(true);
        expect(requireTools("x", [{ bin: "openssl", apt: "openssl" }])).toBe(false);
        process.env.CI = "true";
        expect(() => requireTools("x", [{ bin: "surely-not-a-binary-anvil", apt: "pkg-x" }])).toThrow(/pkg-x/);
      } finally {
        if (saved === undefined) delete process.env.CI;
        else process.env.CI = saved;
      }
    });

    it("openssl helpers read a chain made by openssl itself", async () => {
      const p = (n: string) => join(dir, n);
      const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
      await runOk("openssl", ["req", "-x509", ...ec, "-days", "1", "-subj", "/CN=Harness Root", "-keyout", p("ca.key"), "-out", p("ca.pem")]);
      await runOk("openssl", ["req", ...ec, "-subj", "/CN=leaf", "-keyout", p("leaf.key"), "-out", p("leaf.csr")]);
      await writeFile(p("ext.cnf"), "subjectAltName=DNS:b.anvil.test,DNS:a.anvil.test,IP:127.0.0.1\n");
      await runOk("openssl", [
        "x509", "-req", "-in", p("leaf.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"), "-days", "1",
        "-set_serial", "0x1234AB", "-extfile", p("ext.cnf"), "-out", p("leaf.pem"),
      ]);
      expect(await opensslSans(p("leaf.pem"))).toEqual(["DNS:b.anvil.test", "DNS:a.anvil.test", "IP Address:127.0.0.1"]);
      expect(await opensslDnsNames(p("leaf.pem"))).toEqual(["a.anvil.test", "b.anvil.test"]);
      expect(await opensslSerial(p("leaf.pem"))).toBe("1234AB");
      expect(await opensslName(p("leaf.pem"), "issuer")).toBe("Harness Root");
      expect(await opensslName(p("leaf.pem"), "subject")).toBe("leaf");
      expect(await opensslPublicKeyAlgorithm(p("leaf.pem"))).toBe("id-ecPublicKey");
      expect((await opensslVerify(p("ca.pem"), p("ca.pem"), p("leaf.pem"))).code).toBe(0);
      expect((await opensslVerify(p("leaf.pem"), p("leaf.pem"), p("ca.pem"))).code).not.toBe(0);
      const bundle = (await readFile(p("leaf.pem"), "utf8")) + (await readFile(p("ca.pem"), "utf8"));
      expect(splitPem(bundle)).toHaveLength(2);
    });
  });
});

function directory(base: string) {
  return {
    newNonce: `${base}/nonce`, newAccount: `${base}/new-acct`, newOrder: `${base}/new-order`,
    revokeCert: `${base}/revoke`, keyChange: `${base}/key-change`,
  };
}

function verifyWithKey(alg: JwsAlg, key: import("node:crypto").KeyObject, jws: { protected: string; payload: string; signature: string }) {
  const data = Buffer.from(`${jws.protected}.${jws.payload}`);
  const sig = base64url.decode(jws.signature);
  const hash = { ES256: "sha256", ES384: "sha384", ES512: "sha512", RS256: "sha256", PS256: "sha256", EdDSA: null }[alg];
  if (alg === "PS256") return nodeVerify(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig);
  return nodeVerify(hash, data, { key, dsaEncoding: "ieee-p1363" }, sig);
}

// Behaves like dist/main.js as far as startAnvil can see: ready lines, root file, SIGTERM.
const STUB = `
import { mkdirSync, writeFileSync } from "node:fs";
const mode = process.env.STUB_MODE;
const dir = process.env.ANVIL_DATA_DIR;
console.log(JSON.stringify({ level: 30, msg: "stub starting" }));
if (mode === "exit") { console.error("stub failing on purpose"); process.exit(3); }
process.on("SIGTERM", () => { console.log("stub got SIGTERM"); process.exit(0); });
setInterval(() => {}, 1000);
if (mode !== "silent") {
  mkdirSync(dir + "/ca", { recursive: true });
  writeFileSync(dir + "/ca/root.pem", "stub root\\n");
  const lines = ["Anvil root certificate: " + dir + "/ca/root.pem", "Anvil directory: " + process.env.ANVIL_BASE_URL + "/directory"];
  for (const l of lines) console.log(mode === "json" ? JSON.stringify({ level: 30, msg: l }) : l);
}
`;
