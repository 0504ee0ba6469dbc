import { execFileSync } from "node:child_process";
import { createHash, X509Certificate as NodeCert } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCsr } from "../../src/core/csr.js";
import type { Identifier } from "../../src/core/types.js";
import { AcmeError } from "../../src/errors/index.js";
import { makeCsr } from "../helpers/acme.js";
import {
  importPki,
  initPki,
  issueServerCertificate,
  loadIssuer,
  newSerial,
  pemBlocks,
  pkiPaths,
  serialProblem,
  type Issuer,
} from "../../src/issuance/index.js";
import { createIssuer } from "../../src/issuance/issuer.js";
import { keyPair } from "../helpers/keygen.js";

const OPENSSL = "/usr/bin/openssl";
const work = mkdtempSync(join(tmpdir(), "anvil-issuance-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let seq = 0;
const tmp = (name: string) => join(work, `${++seq}-${name}`);
const openssl = (args: string[], input?: string) =>
  execFileSync(OPENSSL, args, { stdio: "pipe", ...(input !== undefined ? { input } : {}) }).toString();
const DAY = 86_400_000;

const spkiOf = (k: { export(o: { type: "spki"; format: "der" }): Buffer }) => new Uint8Array(k.export({ type: "spki", format: "der" }));
const leafKeys = {
  "ECDSA P-256": async () => (await keyPair("ec", { namedCurve: "P-256" })).publicKey,
  "RSA 2048": async () => (await keyPair("rsa", { modulusLength: 2048 })).publicKey,
  Ed25519: async () => (await keyPair("ed25519")).publicKey,
};

function leafRequest(spki: Uint8Array, identifiers: Identifier[], extra: { commonName?: string; days?: number } = {}) {
  const { days = 90, ...rest } = extra;
  const now = Date.now();
  return { spki, identifiers, notBefore: new Date(now - 3_600_000), notAfter: new Date(now + days * DAY), serial: newSerial(), ...rest };
}

/** Writes the leaf and runs `openssl verify` against the issuer's root and intermediate files. */
function opensslVerify(issuer: Issuer, leafDer: Uint8Array): string {
  const dir = tmp("verify");
  execFileSync("mkdir", [dir]);
  writeFileSync(join(dir, "root.pem"), issuer.rootPem);
  writeFileSync(join(dir, "intermediate.pem"), issuer.intermediatePem);
  writeFileSync(join(dir, "leaf.pem"), pemOf(leafDer));
  return openssl(["verify", "-CAfile", join(dir, "root.pem"), "-untrusted", join(dir, "intermediate.pem"), join(dir, "leaf.pem")]);
}
const pemOf = (der: Uint8Array) => new x509.X509Certificate(der).toString("pem") + "\n";
const ext = (der: Uint8Array, name: string) => openssl(["x509", "-noout", "-ext", name], pemOf(der));

describe("initPki", () => {
  let dir: string;
  beforeAll(() => {
    dir = tmp("pki");
  });

  it("creates root and intermediate, keys with mode 0600", async () => {
    const { created, paths } = await initPki({ dir });
    expect(created).toBe(true);
    expect(paths).toEqual(pkiPaths(dir));
    expect(paths.rootKey).toBe(join(dir, "root.key"));
    for (const key of [paths.rootKey, paths.intermediateKey]) expect(statSync(key).mode & 0o777).toBe(0o600);
    const chain = openssl(["verify", "-CAfile", paths.rootCert, paths.intermediateCert]);
    expect(chain).toContain(": OK");
    const inter = openssl(["x509", "-in", paths.intermediateCert, "-noout", "-text"]);
    expect(inter).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(inter).toMatch(/Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    expect(inter).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(inter).toContain("Subject: O = Anvil, CN = Anvil Intermediate CA");
    expect(inter).toContain("Signature Algorithm: ecdsa-with-SHA384"); // signed by the P-384 root
    const root = openssl(["x509", "-in", paths.rootCert, "-noout", "-text"]);
    expect(root).toMatch(/Basic Constraints: critical\s+CA:TRUE\n/);
    expect(root).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
    expect(root).toContain("NIST CURVE: P-384");
  });

  it("reuses an existing PKI, and replaces it only with force", async () => {
    const paths = pkiPaths(dir);
    const before = readFileSync(paths.rootCert, "utf8");
    expect((await initPki({ dir })).created).toBe(false);
    expect(readFileSync(paths.rootCert, "utf8")).toBe(before);
    expect((await initPki({ dir, force: true })).created).toBe(true);
    expect(readFileSync(paths.rootCert, "utf8")).not.toBe(before);
    expect(statSync(paths.intermediateKey).mode & 0o777).toBe(0o600);
  });

  it("refuses to reuse an incomplete PKI", async () => {
    const d = tmp("incomplete");
    await initPki({ dir: d });
    rmSync(pkiPaths(d).intermediateKey);
    await expect(initPki({ dir: d })).rejects.toThrow(/incomplete PKI .*intermediate\.key is missing/);
  });

  it("takes subjects and lifetimes; the intermediate never outlives the root", async () => {
    const now = new Date();
    const d = tmp("custom");
    await initPki({ dir: d, now, rootDays: 10, intermediateDays: 20, rootSubject: "CN=Team Root,O=Team,C=DE", intermediateSubject: "CN=Team Issuing" });
    const issuer = await loadIssuer({ dir: d });
    const root = new x509.X509Certificate(issuer.rootDer);
    expect(root.subject).toBe("C=DE, O=Team, CN=Team Root");
    expect(root.notAfter.getTime()).toBe(Math.floor((now.getTime() + 10 * DAY) / 1000) * 1000);
    expect(issuer.intermediateNotAfter).toEqual(root.notAfter);
    expect(issuer.rootSubjectCN).toBe("Team Root");
    expect(issuer.intermediateSubjectCN).toBe("Team Issuing");
  });
});

// the same behaviour whether leaves are signed on the calling thread or in the server's signing worker
describe.each([
  ["on the calling thread", false],
  ["in a worker thread", true],
] as const)("an issuer from initPki (ECDSA P-384 root, P-256 intermediate), signing %s", (_where, worker) => {
  let issuer: Issuer;
  beforeAll(async () => {
    const dir = tmp("issuer");
    await initPki({ dir });
    issuer = await loadIssuer({ dir, worker });
  });
  afterAll(async () => {
    await issuer.close?.();
  });

  it("exposes its id, names and PEMs", () => {
    const expectedId = createHash("sha256").update(issuer.intermediateDer).digest().subarray(0, 8).toString("hex");
    expect(issuer.id).toBe(expectedId);
    expect(issuer.id).toMatch(/^[0-9a-f]{16}$/);
    expect(issuer.rootSubjectCN).toBe("Anvil Root CA");
    expect(issuer.intermediateSubjectCN).toBe("Anvil Intermediate CA");
    expect(Buffer.from(pemBlocks(issuer.rootPem)[0]!)).toEqual(Buffer.from(issuer.rootDer));
    expect(Buffer.from(pemBlocks(issuer.intermediatePem)[0]!)).toEqual(Buffer.from(issuer.intermediateDer));
  });

  for (const [name, gen] of Object.entries(leafKeys)) {
    it(`issues a leaf for a ${name} key that openssl verifies`, async () => {
      const req = leafRequest(spkiOf(await gen()), [
        { type: "dns", value: "www.example.test" },
        { type: "ip", value: "192.0.2.7" },
        { type: "ip", value: "2001:db8::1" },
      ], { commonName: "www.example.test" });
      const der = await issuer.issue(req);
      expect(opensslVerify(issuer, der)).toContain("leaf.pem: OK");
      expect(ext(der, "subjectAltName")).toMatch(
        /Subject Alternative Name: \n\s+DNS:www.example.test, IP Address:192.0.2.7, IP Address:2001:DB8:0:0:0:0:0:1\n/,
      );
      const usage = name === "RSA 2048" ? "Digital Signature, Key Encipherment" : "Digital Signature";
      expect(ext(der, "keyUsage")).toMatch(new RegExp(`Key Usage: critical\\n\\s+${usage}\\n`));
      expect(ext(der, "basicConstraints")).toMatch(/Basic Constraints: critical\n\s+CA:FALSE/);
      expect(ext(der, "extendedKeyUsage")).toContain("TLS Web Server Authentication, TLS Web Client Authentication");

      const leaf = new x509.X509Certificate(der);
      const inter = new x509.X509Certificate(issuer.intermediateDer);
      expect(leaf.serialNumber).toBe(req.serial);
      expect(leaf.subject).toBe("CN=www.example.test");
      expect(Buffer.from(leaf.issuerName.toArrayBuffer())).toEqual(Buffer.from(inter.subjectName.toArrayBuffer()));
      expect(Buffer.from(leaf.publicKey.rawData)).toEqual(Buffer.from(req.spki));
      expect(leaf.notAfter.getTime()).toBe(Math.floor(req.notAfter.getTime() / 1000) * 1000);
      const aki = leaf.getExtension(x509.AuthorityKeyIdentifierExtension)!;
      expect(aki.keyId).toBe(inter.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId);
      expect(leaf.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId).toBe(
        Buffer.from(await leaf.publicKey.getKeyIdentifier()).toString("hex"),
      );
      expect(openssl(["x509", "-noout", "-text"], pemOf(der))).toContain("Signature Algorithm: ecdsa-with-SHA256");
    });
  }

  it("without a common name the subject is empty and the SAN critical (RFC 5280 §4.2.1.6)", async () => {
    const der = await issuer.issue(leafRequest(spkiOf(await leafKeys.Ed25519()), [{ type: "dns", value: "a.example.test" }]));
    expect(new x509.X509Certificate(der).subject).toBe("");
    expect(ext(der, "subjectAltName")).toMatch(/Subject Alternative Name: critical\n\s+DNS:a.example.test\n/);
    expect(opensslVerify(issuer, der)).toContain("leaf.pem: OK");
  });

  it("chainPems: leaf+intermediate, then leaf+intermediate+root", async () => {
    const der = await issuer.issue(leafRequest(spkiOf(await leafKeys["ECDSA P-256"]()), [{ type: "dns", value: "c.example.test" }]));
    const [main, alternate, ...more] = issuer.chainPems(der);
    expect(more).toEqual([]);
    const hex = (blocks: Uint8Array[]) => blocks.map((b) => Buffer.from(b).toString("hex"));
    const [leaf, inter, root] = hex([der, issuer.intermediateDer, issuer.rootDer]);
    expect(hex(pemBlocks(main!))).toEqual([leaf, inter]);
    expect(hex(pemBlocks(alternate!))).toEqual([leaf, inter, root]);
    expect(main!.startsWith("-----BEGIN CERTIFICATE-----\n")).toBe(true);
    expect(alternate!.endsWith("-----END CERTIFICATE-----\n")).toBe(true);
  });

  const bad: [string, (r: ReturnType<typeof leafRequest>) => void, RegExp][] = [
    ["a serial with a leading zero byte", (r) => (r.serial = "00" + r.serial), /invalid serial .*leading zero/],
    ["a negative serial", (r) => (r.serial = "80" + r.serial.slice(2)), /invalid serial .*high bit/],
    ["an upper-case serial", (r) => (r.serial = "01ABCD"), /invalid serial .*lower-case hex/],
    ["notAfter after the intermediate's", (r) => (r.notAfter = new Date(Date.now() + 20 * 365 * DAY)), /after the intermediate's notAfter/],
    ["notAfter before notBefore", (r) => (r.notAfter = new Date(r.notBefore.getTime() - 1000)), /notBefore must be before notAfter/],
    ["a common name longer than 64", (r) => (r.commonName = "a".repeat(65)), /1 to 64 characters/],
    ["no identifiers", (r) => (r.identifiers = []), /at least one identifier/],
    ["an IP that is not one", (r) => (r.identifiers = [{ type: "ip", value: "300.1.1.1" }]), /not an IP address/],
    ["a non-ASCII DNS name", (r) => (r.identifiers = [{ type: "dns", value: "bücher.example" }]), /not an ASCII DNS name/],
    ["an SPKI that is not a key", (r) => (r.spki = new Uint8Array([0x30, 0x00])), /unsupported public key/],
  ];
  for (const [name, mutate, message] of bad) {
    it(`refuses ${name}`, async () => {
      const req = leafRequest(spkiOf(await leafKeys["ECDSA P-256"]()), [{ type: "dns", value: "x.example.test" }]);
      mutate(req);
      await expect(issuer.issue(req)).rejects.toThrow(message);
    });
  }

  it("answers each certificate in an ArrayBuffer of its own (what the signing worker transfers)", async () => {
    const der = await issuer.issue(leafRequest(spkiOf(await leafKeys["ECDSA P-256"]()), [{ type: "dns", value: "own.example.test" }]));
    expect(der.byteOffset).toBe(0);
    expect(der.buffer.byteLength).toBe(der.byteLength);
  });

  it("signs many leaves at once, each answer matching its own request", async () => {
    const keys = await Promise.all(Array.from({ length: 24 }, () => leafKeys["ECDSA P-256"]()));
    const reqs = keys.map((k, i) => leafRequest(spkiOf(k), [{ type: "dns", value: `n${i}.example.test` }]));
    const ders = await Promise.all(reqs.map((r) => issuer.issue(r)));
    const inter = new NodeCert(issuer.intermediateDer);
    ders.forEach((der, i) => {
      const leaf = new NodeCert(der);
      expect(leaf.verify(inter.publicKey)).toBe(true);
      expect(leaf.serialNumber.toLowerCase()).toBe(reqs[i]!.serial);
      expect(leaf.subjectAltName).toBe(`DNS:n${i}.example.test`);
    });
  });

  it("parseCsr answers what core's parseCsr answers, a bad signature included", async () => {
    const { der } = await makeCsr(["csr.example.test", "127.0.0.1"]);
    expect(await issuer.parseCsr(der)).toEqual(await parseCsr(der));
    const tampered = new Uint8Array(der);
    tampered[tampered.length - 5]! ^= 0xff;
    const parsed = await issuer.parseCsr(tampered);
    expect(parsed.signatureValid).toBe(false);
    expect(parsed).toEqual(await parseCsr(tampered));
    const garbage = await issuer.parseCsr(new Uint8Array([1, 2, 3])).catch((e: unknown) => e);
    expect(garbage).toBeInstanceOf(AcmeError); // still a badCSR problem after crossing the thread
    expect(garbage).toMatchObject({ type: "badCSR", status: 400 });
  });

  it("after close, issue() refuses", async () => {
    const dir = tmp("closing");
    await initPki({ dir });
    const closing = await loadIssuer({ dir, worker });
    await closing.issue(leafRequest(spkiOf(await leafKeys["ECDSA P-256"]()), [{ type: "dns", value: "before.example.test" }]));
    if (!closing.close) return expect(worker).toBe(false); // the calling thread has nothing to close
    await closing.close();
    await expect(closing.issue(leafRequest(spkiOf(await leafKeys["ECDSA P-256"]()), [{ type: "dns", value: "after.example.test" }]))).rejects.toThrow(/closed/);
  });
});

describe("newSerial", () => {
  it("is 128 random bits behind a 0x01 byte: positive, never zero, unique", () => {
    const serials = new Set(Array.from({ length: 1000 }, newSerial));
    expect(serials.size).toBe(1000);
    for (const s of serials) {
      expect(s).toMatch(/^01[0-9a-f]{32}$/);
      expect(serialProblem(s)).toBeUndefined();
    }
  });

  it("serialProblem accepts DER INTEGER contents only", () => {
    expect(serialProblem("0080")).toBeUndefined(); // the pad a positive INTEGER with the high bit needs
    expect(serialProblem("7f")).toBeUndefined();
    for (const s of ["", "0", "00", "0001", "80", "1", "xyz1", "01".repeat(21)]) expect(serialProblem(s)).toBeDefined();
  });
});

describe("other key types and storage options", () => {
  it("an RSA intermediate signs leaves with sha256WithRSAEncryption", async () => {
    const dir = tmp("rsa");
    await initPki({ dir, intermediateKey: { type: "rsa", bits: 2048 }, rootKey: { type: "ecdsa", curve: "P-256" } });
    const issuer = await loadIssuer({ dir });
    const der = await issuer.issue(leafRequest(spkiOf(await leafKeys["ECDSA P-256"]()), [{ type: "dns", value: "rsa.example.test" }]));
    expect(opensslVerify(issuer, der)).toContain("leaf.pem: OK");
    expect(openssl(["x509", "-noout", "-text"], pemOf(der))).toContain("Signature Algorithm: sha256WithRSAEncryption");
    expect(openssl(["x509", "-noout", "-text"], issuer.intermediatePem)).toContain("Signature Algorithm: ecdsa-with-SHA256");
  });

  it("a signing key that is not the intermediate certificate's: the leaf is checked after signing and refused", async () => {
    const dir = tmp("mismatch");
    await initPki({ dir });
    const good = await loadIssuer({ dir });
    const wrongKey = (await keyPair("ec", { namedCurve: "P-256" })).privateKey;
    const wrong = await createIssuer(good.rootDer, good.intermediateDer, wrongKey);
    const req = leafRequest(spkiOf(await leafKeys["ECDSA P-256"]()), [{ type: "dns", value: "mismatch.example.test" }]);
    await expect(wrong.issue(req)).rejects.toThrow(/does not verify with the intermediate/);
    expect(opensslVerify(good, await good.issue(req))).toContain("leaf.pem: OK");
  });

  it("a passphrase-encrypted intermediate key loads only with the passphrase", async () => {
    const dir = tmp("pass");
    await initPki({ dir, passphrase: "correct horse" });
    for (const key of [pkiPaths(dir).intermediateKey, pkiPaths(dir).rootKey]) {
      expect(readFileSync(key, "utf8")).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    }
    // openssl agrees on the format: PKCS#8 with PBES2 / AES-256-CBC
    const info = openssl(["asn1parse", "-in", pkiPaths(dir).intermediateKey]);
    expect(info).toContain("PBES2");
    expect(info).toContain("aes-256-cbc");
    await expect(loadIssuer({ dir })).rejects.toThrow(/intermediate\.key is encrypted: a passphrase is required/);
    await expect(loadIssuer({ dir, passphrase: "wrong" })).rejects.toThrow(/cannot load .*intermediate\.key: wrong passphrase/);
    const issuer = await loadIssuer({ dir, passphrase: "correct horse" });
    const der = await issuer.issue(leafRequest(spkiOf(await leafKeys.Ed25519()), [{ type: "dns", value: "p.example.test" }]));
    expect(opensslVerify(issuer, der)).toContain("leaf.pem: OK");
  });

  it("loadIssuer explains a missing PKI and an expired one", async () => {
    await expect(loadIssuer({ dir: tmp("none") })).rejects.toThrow(/no PKI in .*root\.pem is missing/);
    const dir = tmp("expiring");
    await initPki({ dir, intermediateDays: 1 });
    await expect(loadIssuer({ dir, now: new Date(Date.now() + 2 * DAY) })).rejects.toThrow(/intermediate certificate expired/);
  });
});

/** A root and intermediate made with the openssl CLI, as an operator would bring them. */
function opensslCa(opts: { intermediateIsCa?: boolean; encryptKeyWith?: string } = {}) {
  const d = tmp("byo");
  execFileSync("mkdir", [d]);
  const f = (n: string) => join(d, n);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl(["req", "-x509", ...ec, "-keyout", f("root.key"), "-subj", "/C=DE/O=Own Org/CN=Own Root", "-days", "30",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", f("root.pem")]);
  openssl(["req", "-new", ...ec, "-keyout", f("int.key"), "-subj", "/C=DE/O=Own Org/CN=Own Issuing", "-out", f("int.csr")]);
  const ca = opts.intermediateIsCa === false ? "CA:FALSE" : "CA:TRUE,pathlen:0";
  writeFileSync(f("ext.cnf"), `basicConstraints=critical,${ca}\nkeyUsage=critical,digitalSignature,keyCertSign,cRLSign\n` +
    "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n");
  openssl(["x509", "-req", "-in", f("int.csr"), "-CA", f("root.pem"), "-CAkey", f("root.key"), "-set_serial", "0x1234",
    "-days", "20", "-extfile", f("ext.cnf"), "-out", f("int.pem")]);
  let intKey = readFileSync(f("int.key"), "utf8");
  if (opts.encryptKeyWith) {
    intKey = openssl(["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", `pass:${opts.encryptKeyWith}`], intKey);
  }
  return {
    rootCertPem: readFileSync(f("root.pem"), "utf8"),
    rootKeyPem: readFileSync(f("root.key"), "utf8"),
    intermediateCertPem: readFileSync(f("int.pem"), "utf8"),
    intermediateKeyPem: intKey,
  };
}

describe("importPki (bring your own root and intermediate)", () => {
  let own: ReturnType<typeof opensslCa>;
  let other: ReturnType<typeof opensslCa>;
  beforeAll(() => {
    own = opensslCa();
    other = opensslCa();
  });

  it("imports an openssl-made pair without the root key and issues from it", async () => {
    const dir = tmp("import");
    const { rootKeyPem: _unused, ...withoutRootKey } = own;
    const paths = await importPki({ dir, ...withoutRootKey });
    expect(() => statSync(paths.rootKey)).toThrow(/ENOENT/);
    expect(statSync(paths.intermediateKey).mode & 0o777).toBe(0o600);
    const issuer = await loadIssuer({ dir });
    expect(issuer.intermediateSubjectCN).toBe("Own Issuing");
    const der = await issuer.issue(leafRequest(spkiOf(await leafKeys["RSA 2048"]()), [{ type: "dns", value: "byo.example.test" }], { days: 10 }));
    expect(opensslVerify(issuer, der)).toContain("leaf.pem: OK");
    // openssl wrote C as a PrintableString: the leaf's issuer must be the very same bytes
    const inter = new x509.X509Certificate(issuer.intermediateDer);
    expect(Buffer.from(new x509.X509Certificate(der).issuerName.toArrayBuffer())).toEqual(Buffer.from(inter.subjectName.toArrayBuffer()));
  });

  it("keeps the root key when given, and refuses to overwrite without force", async () => {
    const dir = tmp("import-root");
    await importPki({ dir, ...own });
    expect(statSync(pkiPaths(dir).rootKey).mode & 0o777).toBe(0o600);
    await expect(importPki({ dir, ...other })).rejects.toThrow(/already holds a PKI .*pass force/);
    await importPki({ dir, ...other, force: true });
    expect(readFileSync(pkiPaths(dir).rootCert, "utf8").replace(/\s/g, "")).toBe(other.rootCertPem.replace(/\s/g, ""));
  });

  it("decrypts an encrypted key with the passphrase and stores it encrypted", async () => {
    const enc = opensslCa({ encryptKeyWith: "s3cret" });
    await expect(importPki({ dir: tmp("enc"), ...enc })).rejects.toThrow(/encrypted: a passphrase is required/);
    const dir = tmp("enc-ok");
    await importPki({ dir, ...enc, passphrase: "s3cret" });
    expect(readFileSync(pkiPaths(dir).intermediateKey, "utf8")).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    expect((await loadIssuer({ dir, passphrase: "s3cret" })).intermediateSubjectCN).toBe("Own Issuing");
  });

  const refusals: [string, () => Parameters<typeof importPki>[0], RegExp][] = [
    ["a key that does not match the intermediate", () => ({ dir: tmp("x"), ...own, intermediateKeyPem: other.intermediateKeyPem }),
      /the intermediate key does not match the intermediate certificate/],
    ["an intermediate signed by another root", () => ({ dir: tmp("x"), ...own, intermediateCertPem: other.intermediateCertPem,
      intermediateKeyPem: other.intermediateKeyPem }), /the intermediate certificate is not signed by the root certificate/],
    ["a root key that does not match the root", () => ({ dir: tmp("x"), ...own, rootKeyPem: other.rootKeyPem }),
      /the root key does not match the root certificate/],
    ["an intermediate that is not a CA", () => ({ dir: tmp("x"), ...opensslCa({ intermediateIsCa: false }) }),
      /the intermediate certificate is not a CA certificate/],
    ["a root that is not self-signed", () => ({ dir: tmp("x"), ...own, rootCertPem: own.intermediateCertPem }),
      /the root certificate is not self-signed/],
    ["an expired pair", () => ({ dir: tmp("x"), ...own, now: new Date(Date.now() + 25 * DAY) }),
      /the intermediate certificate expired/],
    ["two certificates where one is expected", () => ({ dir: tmp("x"), ...own, intermediateCertPem: own.intermediateCertPem + own.rootCertPem }),
      /intermediate certificate: expected exactly one PEM CERTIFICATE block, found 2/],
    ["a certificate that does not parse", () => ({ dir: tmp("x"), ...own, rootCertPem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" }),
      /root certificate: not a valid X.509 certificate/],
  ];
  for (const [name, opts, message] of refusals) {
    it(`refuses ${name}`, async () => {
      const o = opts();
      await expect(importPki(o)).rejects.toThrow(message);
      expect(() => statSync(pkiPaths(o.dir).rootCert)).toThrow(/ENOENT/); // nothing written
    });
  }
});

describe("ca-keys.example", () => {
  it("holds a working TEST ONLY pair in Anvil's layout", async () => {
    const issuer = await loadIssuer({ dir: "ca-keys.example" });
    expect(issuer.rootSubjectCN).toBe("Anvil TEST ONLY Root CA");
    expect(readFileSync("ca-keys.example/README.md", "utf8")).toMatch(/TEST ONLY\. DO NOT TRUST THESE KEYS/);
    const der = await issuer.issue(leafRequest(spkiOf(await leafKeys.Ed25519()), [{ type: "dns", value: "demo.example.test" }], { days: 30 }));
    expect(opensslVerify(issuer, der)).toContain("leaf.pem: OK");
  });
});

describe("issueServerCertificate", () => {
  it("serves HTTPS on loopback to a client that trusts only the root", async () => {
    const dir = tmp("server");
    await initPki({ dir });
    const issuer = await loadIssuer({ dir });
    const { certPem, keyPem, notAfter } = await issueServerCertificate(issuer, { hostnames: ["localhost", "127.0.0.1", "[::1]"], days: 7 });
    expect(pemBlocks(certPem)).toHaveLength(2);
    expect(notAfter.getTime()).toBeGreaterThan(Date.now() + 6 * DAY);
    expect(notAfter.getTime()).toBeLessThanOrEqual(Date.now() + 7 * DAY);
    expect(new NodeCert(certPem).subjectAltName).toBe("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");

    const server = https.createServer({ cert: certPem, key: keyPem }, (_req, res) => res.end("anvil"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const get = (extra: https.RequestOptions) =>
      new Promise<string>((resolve, reject) => {
        https
          .get({ host: "127.0.0.1", port, ca: issuer.rootPem, agent: false, ...extra }, (res) => {
            let body = "";
            res.on("data", (c) => (body += c)).on("end", () => resolve(body));
          })
          .on("error", reject);
      });
    try {
      expect(await get({ servername: "localhost" })).toBe("anvil"); // DNS SAN
      expect(await get({})).toBe("anvil"); // IP SAN 127.0.0.1
      await expect(get({ servername: "other.example" })).rejects.toThrow(/does not match|altnames/i);
      await expect(get({ ca: other() })).rejects.toThrow(/unable to get local issuer|self.signed|unable to verify/i);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

// A root the server's chain does not lead to.
function other(): string {
  const d = tmp("other-root");
  return openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${d}.key`,
    "-subj", "/CN=Unrelated Root", "-days", "1"]);
}
