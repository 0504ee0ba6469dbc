import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { afterAll, describe, expect, it } from "vitest";
import { ipToBytes, ipToText, parseCsr } from "../../src/core/csr.js";
import { AcmeError } from "../../src/errors/index.js";

const OPENSSL = "/usr/bin/openssl";
const work = mkdtempSync(join(tmpdir(), "anvil-csr-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let counter = 0;
/** A DER CSR made by the openssl CLI, with a fresh key of the given genpkey algorithm. */
function opensslCsr(opts: { alg: string[]; subj?: string; san?: string; digest?: string }): Uint8Array {
  const n = ++counter;
  const key = join(work, `k${n}.pem`);
  const out = join(work, `r${n}.der`);
  execFileSync(OPENSSL, ["genpkey", ...opts.alg, "-out", key], { stdio: "pipe" });
  const args = ["req", "-new", "-key", key, "-subj", opts.subj ?? "/", "-outform", "DER", "-out", out];
  if (opts.san) args.push("-addext", `subjectAltName=${opts.san}`);
  if (opts.digest) args.push(`-${opts.digest}`);
  execFileSync(OPENSSL, args, { stdio: "pipe" });
  return new Uint8Array(readFileSync(out));
}

const RSA2048 = ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"];
const P256 = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"];
const ED25519 = ["-algorithm", "ED25519"];

async function badCsr(der: Uint8Array): Promise<AcmeError> {
  const err = await parseCsr(der).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AcmeError);
  expect((err as AcmeError).type).toBe("badCSR");
  expect((err as AcmeError).status).toBe(400);
  return err as AcmeError;
}

describe("parseCsr with CSRs made by openssl", () => {
  const san = "DNS:a.example,DNS:WWW.Example.COM,IP:192.0.2.1,IP:2001:DB8:0:0:0:0:0:1,email:x@y.example,URI:https://u.example/";
  const table = [
    { name: "RSA 2048", alg: RSA2048, key: { type: "rsa", bits: 2048, exponent: 65537n }, sig: "sha256WithRSAEncryption" },
    { name: "ECDSA P-256", alg: P256, key: { type: "ec", curve: "P-256" }, sig: "ecdsa-with-SHA256" },
    { name: "Ed25519", alg: ED25519, key: { type: "ed25519" }, sig: "Ed25519" },
  ];
  for (const t of table) {
    it(`${t.name}: key, signature and every SAN`, async () => {
      const der = opensslCsr({ alg: t.alg, subj: "/O=Org/CN=a.example", san });
      const csr = await parseCsr(der);
      expect(csr.key).toMatchObject(t.key);
      expect(csr.signatureValid).toBe(true);
      expect(csr.signatureAlgorithm).toBe(t.sig);
      expect(csr.commonName).toBe("a.example");
      expect(csr.dnsNames).toEqual(["a.example", "www.example.com"]);
      expect(csr.ipAddresses).toEqual(["192.0.2.1", "2001:db8::1"]);
      expect(csr.otherNames).toEqual(["email:x@y.example", "uri:https://u.example/"]);
      expect(Buffer.from(csr.der)).toEqual(Buffer.from(der));
      // The SPKI is the key openssl wrote: compare with `openssl req -pubkey`.
      const pub = execFileSync(OPENSSL, ["req", "-inform", "DER", "-noout", "-pubkey"], { input: der }).toString();
      const spki = x509.PemConverter.decodeFirst(pub);
      expect(Buffer.from(csr.spki)).toEqual(Buffer.from(spki));
    });
  }

  it("a CSR with only a subject CN has no SAN names", async () => {
    const csr = await parseCsr(opensslCsr({ alg: P256, subj: "/CN=Only.Example" }));
    expect(csr).toMatchObject({ commonName: "Only.Example", dnsNames: [], ipAddresses: [], otherNames: [] });
  });

  it("a CSR with an empty subject has no commonName", async () => {
    const csr = await parseCsr(opensslCsr({ alg: P256, san: "DNS:x.example" }));
    expect(csr.commonName).toBeUndefined();
    expect(csr.dnsNames).toEqual(["x.example"]);
  });

  it("duplicate SANs are reported once", async () => {
    const csr = await parseCsr(opensslCsr({ alg: P256, san: "DNS:a.example,DNS:A.example,IP:10.0.0.1,IP:10.0.0.1" }));
    expect(csr.dnsNames).toEqual(["a.example"]);
    expect(csr.ipAddresses).toEqual(["10.0.0.1"]);
  });

  it("two subject CNs are refused", async () => {
    const err = await badCsr(opensslCsr({ alg: P256, subj: "/CN=a.example/CN=b.example" }));
    expect(err.message).toBe("the CSR subject has more than one common name");
  });

  it("a SHA-1 signature is refused with the algorithm's name", async () => {
    const err = await badCsr(opensslCsr({ alg: RSA2048, subj: "/CN=a.example", digest: "sha1" }));
    expect(err.message).toBe("the CSR signature algorithm sha1WithRSAEncryption is not supported");
  });
});

describe("IPv6 SANs in canonical RFC 5952 form", () => {
  const table: [string, string][] = [
    ["2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["FE80:0:0:1:0:0:0:1", "fe80:0:0:1::1"], // the longest zero run is compressed
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // on a tie, the first one
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group is not compressed
    ["0:0:0:0:0:0:0:0", "::"],
  ];
  it("from a CSR made by openssl", async () => {
    const san = table.map(([written]) => `IP:${written}`).join(",");
    const csr = await parseCsr(opensslCsr({ alg: P256, san }));
    expect(csr.ipAddresses).toEqual(table.map(([, canonical]) => canonical));
  });
  for (const [written, canonical] of table) {
    it(`${written} -> ${canonical} (bytes round trip)`, () => {
      const bytes = ipToBytes(written)!;
      expect(bytes).toHaveLength(16);
      expect(ipToText(bytes)).toBe(canonical);
      expect(Buffer.from(ipToBytes(canonical)!)).toEqual(Buffer.from(bytes));
    });
  }
  it("non-addresses are not IPs", () => {
    for (const s of ["", "1.2.3", "256.1.1.1", "example.com", "1::2::3", "fe80::1%eth0"]) expect(ipToBytes(s)).toBeUndefined();
  });
});

describe("parseCsr with CSRs made by @peculiar/x509", () => {
  async function x509Csr(san: x509.JsonGeneralNames) {
    const alg = { name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" };
    const keys = await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"]);
    const req = await x509.Pkcs10CertificateRequestGenerator.create(
      { name: "CN=p384.example", keys, signingAlgorithm: alg, extensions: [new x509.SubjectAlternativeNameExtension(san)] },
      webcrypto as never,
    );
    return new Uint8Array(req.rawData);
  }

  it("ECDSA P-384 with DNS and IP SANs", async () => {
    const csr = await parseCsr(await x509Csr([{ type: "dns", value: "p384.example" }, { type: "ip", value: "::1" }]));
    expect(csr).toMatchObject({
      key: { type: "ec", curve: "P-384" },
      signatureValid: true,
      signatureAlgorithm: "ecdsa-with-SHA384",
      commonName: "p384.example",
      dnsNames: ["p384.example"],
      ipAddresses: ["::1"],
    });
  });

  it("a UPN otherName is reported so the RA can refuse it", async () => {
    const csr = await parseCsr(await x509Csr([{ type: "dns", value: "a.example" }, { type: "upn", value: "u@corp" }]));
    expect(csr.otherNames).toEqual(["otherName:1.3.6.1.4.1.311.20.2.3"]);
  });
});

describe("signatures that do not verify", () => {
  it("a flipped bit in the signature", async () => {
    for (const alg of [RSA2048, P256, ED25519]) {
      const der = opensslCsr({ alg, san: "DNS:a.example" });
      der[der.length - 1]! ^= 0x01;
      const csr = await parseCsr(der);
      expect(csr.signatureValid).toBe(false);
      expect(csr.dnsNames).toEqual(["a.example"]);
    }
  });

  it("a changed name in the signed part", async () => {
    const der = opensslCsr({ alg: P256, san: "DNS:a.example" });
    const at = Buffer.from(der).indexOf("a.example");
    der[at] = "b".charCodeAt(0);
    const csr = await parseCsr(der);
    expect(csr.dnsNames).toEqual(["b.example"]);
    expect(csr.signatureValid).toBe(false);
  });
});

describe("input that is not a CSR is badCSR", () => {
  const valid = opensslCsr({ alg: P256, san: "DNS:a.example" });
  const cert = (() => {
    const key = join(work, "cert-key.pem");
    const out = join(work, "cert.der");
    execFileSync(OPENSSL, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
      "-subj", "/CN=c", "-outform", "DER", "-out", out], { stdio: "pipe" });
    return new Uint8Array(readFileSync(out));
  })();
  const table: [string, Uint8Array][] = [
    ["empty", new Uint8Array()],
    ["garbage", new TextEncoder().encode("this is not a CSR at all")],
    ["a PEM string instead of DER", new TextEncoder().encode("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n")],
    ["truncated", valid.subarray(0, valid.length - 10)],
    ["trailing bytes", new Uint8Array([...valid, 0])],
    ["an X.509 certificate", cert],
    ["indefinite length", new Uint8Array([0x30, 0x80, 0x00, 0x00])],
  ];
  for (const [name, der] of table) {
    it(name, async () => {
      const err = await badCsr(der);
      expect(err.message.length).toBeGreaterThan(10);
    });
  }
});
