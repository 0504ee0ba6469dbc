// publicKeyFromSpki takes the usual EC and RSA SPKIs through their numbers (a JWK) instead of OpenSSL's
// DER decoder: the key must be the very same, and anything outside the one canonical form must get
// exactly OpenSSL's answer.
import { createECDH, createPublicKey, type KeyObject } from "node:crypto";
import { describe, expect, it } from "vitest";
import { canonicalSpkiJwk, publicKeyFromSpki } from "../../src/core/keys.js";
import { tlv } from "../../src/issuance/leaf-der.js";
import { keyPair } from "../helpers/keygen.js";

const spkiOf = (k: KeyObject) => k.export({ type: "spki", format: "der" });
const hex = (h: string) => Buffer.from(h, "hex");
const seq = (...b: Buffer[]) => tlv(0x30, ...b);
const EC_ALG = (curveOid: string) => seq(hex("06072a8648ce3d0201"), hex(curveOid));
const P256 = "06082a8648ce3d030107";
const RSA_ALG = seq(hex("06092a864886f70d010101"), hex("0500"));
const ecSpki = (curveOid: string, point: Buffer) => seq(EC_ALG(curveOid), tlv(0x03, hex("00"), point));
const rsaSpki = (n: Buffer, e: Buffer, alg = RSA_ALG) => seq(alg, tlv(0x03, hex("00"), seq(tlv(0x02, n), tlv(0x02, e))));

/** OpenSSL's own answer for these bytes: the key, or the fact that it refuses them. */
function openssl(spki: Uint8Array): KeyObject | "refused" {
  try {
    return createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  } catch {
    return "refused";
  }
}
function ours(spki: Uint8Array): KeyObject | "refused" {
  try {
    return publicKeyFromSpki(spki);
  } catch {
    return "refused";
  }
}
function expectSameAsOpenssl(spki: Uint8Array) {
  const a = ours(spki);
  const b = openssl(spki);
  if (b === "refused") return expect(a).toBe("refused");
  expect(a).not.toBe("refused");
  expect((a as KeyObject).equals(b)).toBe(true);
  expect(Buffer.from(spkiOf(a as KeyObject))).toEqual(Buffer.from(spkiOf(b)));
}

describe("publicKeyFromSpki: the canonical EC and RSA forms, read as numbers", () => {
  const keys: [string, () => Promise<KeyObject>][] = [
    ["P-256", async () => (await keyPair("ec", { namedCurve: "P-256" })).publicKey],
    ["P-384", async () => (await keyPair("ec", { namedCurve: "P-384" })).publicKey],
    ["P-521", async () => (await keyPair("ec", { namedCurve: "P-521" })).publicKey],
    ["RSA 2048", async () => (await keyPair("rsa", { modulusLength: 2048 })).publicKey],
    ["RSA 2048 e=3", async () => (await keyPair("rsa", { modulusLength: 2048, publicExponent: 3 })).publicKey],
  ];
  for (const [name, gen] of keys) {
    it(`${name}: read as a JWK, and the same key OpenSSL decodes`, async () => {
      for (let i = 0; i < 5; i++) {
        const spki = spkiOf(await gen());
        expect(canonicalSpkiJwk(spki)).toMatchObject({ kty: name.startsWith("RSA") ? "RSA" : "EC" });
        expectSameAsOpenssl(spki);
        // a view into a larger buffer reads the same
        const padded = Buffer.concat([hex("ffff"), spki, hex("ff")]);
        expectSameAsOpenssl(padded.subarray(2, 2 + spki.length));
      }
    });
  }

  it("other key types go to OpenSSL's decoder (Ed25519, Ed448, secp256k1)", async () => {
    for (const spki of [
      spkiOf((await keyPair("ed25519")).publicKey),
      spkiOf((await keyPair("ed448")).publicKey),
      spkiOf((await keyPair("ec", { namedCurve: "secp256k1" })).publicKey),
    ]) {
      expect(canonicalSpkiJwk(spki)).toBeUndefined();
      expectSameAsOpenssl(spki);
    }
  });
});

describe("publicKeyFromSpki: everything else gets OpenSSL's answer", () => {
  const ecdh = createECDH("prime256v1");
  ecdh.generateKeys();
  const point = ecdh.getPublicKey(); // 04 || x || y
  const p256 = hex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");

  it("a compressed point (not read here; OpenSSL decides)", () => {
    const spki = ecSpki(P256, ecdh.getPublicKey(null, "compressed"));
    expect(canonicalSpkiJwk(spki)).toBeUndefined();
    expectSameAsOpenssl(spki);
  });

  it("a point not on the curve is refused", () => {
    const bad = Buffer.from(point);
    bad[64] ^= 1;
    const spki = ecSpki(P256, bad);
    expect(canonicalSpkiJwk(spki)).toBeDefined(); // read here, refused by the import
    expect(ours(spki)).toBe("refused");
    expectSameAsOpenssl(spki);
  });

  it("coordinates not below the field prime are not read here, and refused", () => {
    for (const spki of [
      ecSpki(P256, Buffer.concat([hex("04"), p256, point.subarray(33)])),
      ecSpki(P256, Buffer.concat([hex("04"), point.subarray(1, 33), p256])),
      ecSpki(P256, Buffer.concat([hex("04"), Buffer.alloc(32, 0xff), point.subarray(33)])),
    ]) {
      expect(canonicalSpkiJwk(spki)).toBeUndefined();
      expectSameAsOpenssl(spki);
    }
  });

  it("wrong lengths, unused bits, trailing bytes, a wrong curve for the length", () => {
    const good = ecSpki(P256, point);
    const unused = Buffer.from(good);
    unused[unused.length - point.length - 1] = 1; // the BIT STRING's unused-bits octet
    for (const spki of [
      ecSpki(P256, point.subarray(0, 64)),
      ecSpki(P256, Buffer.concat([point, hex("00")])),
      ecSpki("06052b81040022", point), // a P-256 point labelled P-384
      unused,
      Buffer.concat([good, hex("00")]),
      seq(EC_ALG(P256), tlv(0x03, hex("00"), point), hex("0500")),
    ]) {
      expect(canonicalSpkiJwk(spki)).toBeUndefined();
      expectSameAsOpenssl(spki);
    }
  });

  it("RSA: missing NULL parameters, a negative or non-minimal or zero integer, trailing elements", async () => {
    const jwk = (await keyPair("rsa", { modulusLength: 2048 })).publicKey.export({ format: "jwk" });
    const n = Buffer.concat([hex("00"), Buffer.from(jwk.n!, "base64url")]); // high bit set: needs the 00
    const e = Buffer.from(jwk.e!, "base64url");
    expect(canonicalSpkiJwk(rsaSpki(n, e))).toMatchObject({ kty: "RSA", n: jwk.n, e: jwk.e });
    for (const spki of [
      rsaSpki(n, e, seq(hex("06092a864886f70d010101"))),
      rsaSpki(n.subarray(1), e), // negative modulus
      rsaSpki(Buffer.concat([hex("00"), n]), e), // 00 00 …: not minimal
      rsaSpki(n, Buffer.concat([hex("00"), e])), // 00 01 00 01: not minimal
      rsaSpki(n, hex("00")),
      seq(RSA_ALG, tlv(0x03, hex("00"), seq(tlv(0x02, n), tlv(0x02, e), tlv(0x02, e)))),
    ]) {
      expect(canonicalSpkiJwk(spki)).toBeUndefined();
      expectSameAsOpenssl(spki);
    }
  });

  it("bytes that are not DER", () => {
    for (const spki of [Buffer.alloc(0), hex("30"), hex("3003020100"), hex("308200"), Buffer.alloc(91, 0x30)]) {
      expect(canonicalSpkiJwk(spki)).toBeUndefined();
      expect(ours(spki)).toBe("refused");
    }
  });
});
