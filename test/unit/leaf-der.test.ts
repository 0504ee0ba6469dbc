// The hot path encodes leaves directly in DER (src/issuance/leaf-der.ts). The reference is what
// @peculiar/x509's generator makes from the same profile (profiles.ts leafExtensions): the TBS must be
// the same bytes, for every shape a leaf can take, and the signature must verify with the issuer's key.
import { verify, X509Certificate as NodeCert, type KeyObject } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Identifier } from "../../src/core/types.js";
import { initPki, newSerial, pkiPaths } from "../../src/issuance/index.js";
import { leafExtensions } from "../../src/issuance/profiles.js";
import { leafSignerFor, leafTbs, signTbs, type LeafFields } from "../../src/issuance/leaf-der.js";
import { loadPrivateKey, signerFor, x509Crypto } from "../../src/issuance/keys.js";
import { keyPair } from "../helpers/keygen.js";

/** The TLVs directly inside a DER SEQUENCE. */
function children(der: Uint8Array): Buffer[] {
  const buf = Buffer.from(der);
  const read = (at: number) => {
    let len = buf[at + 1]!;
    let start = at + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
      start += n;
    }
    return { start, end: start + len };
  };
  const outer = read(0);
  const out: Buffer[] = [];
  for (let at = outer.start; at < outer.end; ) {
    const { end } = read(at);
    out.push(buf.subarray(at, end));
    at = end;
  }
  return out;
}

const spkiOf = (k: KeyObject) => new Uint8Array(k.export({ type: "spki", format: "der" }));
// one key of each kind, made before the tests (asynchronously: test/helpers/keygen.ts)
const [p256, p384, rsa2048, ed25519] = await Promise.all([
  keyPair("ec", { namedCurve: "P-256" }),
  keyPair("ec", { namedCurve: "P-384" }),
  keyPair("rsa", { modulusLength: 2048 }),
  keyPair("ed25519"),
]).then((pairs) => pairs.map((p) => spkiOf(p.publicKey)));
const keys = { p256: () => p256!, p384: () => p384!, rsa2048: () => rsa2048!, ed25519: () => ed25519! };

describe.each([
  ["P-256", { type: "ecdsa", curve: "P-256" }],
  ["P-384", { type: "ecdsa", curve: "P-384" }],
  ["RSA 2048", { type: "rsa", bits: 2048 }],
] as const)("leaves in DER match the library's, %s intermediate", (_name, intermediateKey) => {
  let dir: string;
  let key: KeyObject;
  let intermediate: x509.X509Certificate;
  let issuerName: Uint8Array;
  let authorityKeyId: Uint8Array;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "anvil-leafder-"));
    const { paths } = await initPki({ dir, intermediateKey });
    key = loadPrivateKey(readFileSync(paths.intermediateKey, "utf8"), "intermediate");
    intermediate = new x509.X509Certificate(readFileSync(pkiPaths(dir).intermediateCert, "utf8"));
    issuerName = new Uint8Array(intermediate.subjectName.toArrayBuffer());
    authorityKeyId = Buffer.from(intermediate.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId, "hex");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const DAY = 86_400_000;
  const cases: [string, () => Omit<LeafFields, "issuerName" | "authorityKeyId" | "serial">][] = [
    ["an ECDSA key with a CN and one name", () => ({ spki: keys.p256(), identifiers: [{ type: "dns", value: "a.example.test" }], commonName: "a.example.test", rsaKey: false, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 90 * DAY) })],
    ["no CN: empty subject, critical SAN", () => ({ spki: keys.p384(), identifiers: [{ type: "dns", value: "b.example.test" }], rsaKey: false, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 7 * DAY) })],
    ["an RSA key (keyEncipherment) with IPs", () => ({ spki: keys.rsa2048(), identifiers: [{ type: "dns", value: "c.example.test" }, { type: "ip", value: "192.0.2.7" }, { type: "ip", value: "2001:db8::1" }], commonName: "c.example.test", rsaKey: true, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 90 * DAY) })],
    ["an Ed25519 key, 100 names (long lengths), a duplicate", () => {
      const identifiers: Identifier[] = Array.from({ length: 100 }, (_, i) => ({ type: "dns", value: `name-${i}.some-longer-label.example.test` }));
      identifiers.push({ type: "dns", value: "name-1.some-longer-label.example.test" });
      return { spki: keys.ed25519(), identifiers, commonName: "name-0.some-longer-label.example.test", rsaKey: false, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 90 * DAY) };
    }],
    ["validity into 2050 and beyond (GeneralizedTime)", () => ({ spki: keys.p256(), identifiers: [{ type: "dns", value: "d.example.test" }], commonName: "d.example.test", rsaKey: false, notBefore: new Date("2049-12-31T23:59:59Z"), notAfter: new Date("2050-01-01T00:00:00Z") })],
    ["a wildcard CN ('*' is outside PrintableString)", () => ({ spki: keys.p256(), identifiers: [{ type: "dns", value: "*.wild.example.test" }, { type: "dns", value: "wild.example.test" }], commonName: "*.wild.example.test", rsaKey: false, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 90 * DAY) })],
    ["a CN with an underscore", () => ({ spki: keys.p256(), identifiers: [{ type: "dns", value: "under_score.example.test" }], commonName: "under_score.example.test", rsaKey: false, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 90 * DAY) })],
    ["a non-ASCII common name (UTF8String)", () => ({ spki: keys.p256(), identifiers: [{ type: "dns", value: "xn--bcher-kva.example" }], commonName: "bücher.example", rsaKey: false, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 90 * DAY) })],
  ];

  for (const [name, make] of cases) {
    it(name, async () => {
      const input = make();
      const fields: LeafFields = { ...input, serial: newSerial(), issuerName, authorityKeyId };
      // the reference: the library's generator with the profile's extensions
      if (fields.notAfter > intermediate.notAfter) fields.notAfter = intermediate.notAfter; // keep the reference happy
      const signer = await signerFor(key, "intermediate");
      const reference = await x509.X509CertificateGenerator.create(
        {
          serialNumber: fields.serial,
          ...(fields.commonName !== undefined ? { subject: [{ CN: [fields.commonName] }] } : {}),
          issuer: new x509.Name(intermediate.subjectName.toArrayBuffer()),
          notBefore: fields.notBefore,
          notAfter: fields.notAfter,
          publicKey: fields.spki,
          signingKey: signer.key,
          signingAlgorithm: signer.algorithm,
          extensions: await leafExtensions({ spki: fields.spki, identifiers: fields.identifiers, hasSubject: fields.commonName !== undefined, rsaKey: fields.rsaKey, authorityKeyId: Buffer.from(authorityKeyId).toString("hex") }),
        },
        x509Crypto,
      );
      const leafSigner = leafSignerFor(key);
      const der = signTbs(leafTbs(fields, leafSigner), leafSigner);
      const [tbs, alg, sig] = children(der);
      const [refTbs, refAlg] = children(new Uint8Array(reference.rawData));
      const a = tbs!.toString("hex"), b = refTbs!.toString("hex");
      const at = [...a].findIndex((c, i) => c !== b[i]);
      expect(at === -1 ? "" : `${at}: ${a.slice(at - 20, at + 20)} vs ${b.slice(at - 20, at + 20)}`).toBe("");
      expect(alg!.toString("hex")).toBe(refAlg!.toString("hex"));
      // the signature verifies with the intermediate, and node's own parser agrees
      const node = new NodeCert(der);
      expect(node.verify(new NodeCert(Buffer.from(intermediate.rawData)).publicKey)).toBe(true);
      expect(node.serialNumber.toLowerCase()).toBe(fields.serial);
      expect(sig![0]).toBe(0x03);
      const hash = leafSigner.hash;
      expect(verify(hash, tbs!, key.asymmetricKeyType === "ec" ? { key, dsaEncoding: "der" } : key, sig!.subarray(sig![1]! & 0x80 ? 3 + (sig![1]! & 0x7f) : 3))).toBe(true);
    });
  }
});
