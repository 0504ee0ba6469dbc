import { generatePrimeSync, type KeyObject } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { KeyInfo } from "../../src/core/csr.js";
import { keyInfoFromJwk, keyInfoFromSpki, spkiFromJwk } from "../../src/core/keys.js";
import type { JsonWebKeyLike } from "../../src/core/types.js";
import { AcmeError } from "../../src/errors/index.js";
import { checkKey, defaultKeyPolicy, type KeyPolicy } from "../../src/goodkey/index.js";
import { keyPair } from "../helpers/keygen.js";

type Gen = () => Promise<KeyObject>;
const rsa = (bits: number, publicExponent = 65537): Gen => async () =>
  (await keyPair("rsa", { modulusLength: bits, publicExponent })).publicKey;
const ec = (namedCurve: string): Gen => async () => (await keyPair("ec", { namedCurve })).publicKey;

const spkiOf = (k: KeyObject) => new Uint8Array(k.export({ type: "spki", format: "der" }));
const jwkOf = (k: KeyObject) => k.export({ format: "jwk" }) as JsonWebKeyLike;

function rejection(key: KeyInfo, policy?: KeyPolicy): AcmeError | undefined {
  try {
    checkKey(key, policy);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(AcmeError);
    return err as AcmeError;
  }
}

// Real keys of every kind, judged through both entry points (CSR SPKI and account JWK).
const cases: { name: string; gen: Gen; info: Partial<KeyInfo>; reject?: RegExp }[] = [
  { name: "RSA 1024", gen: rsa(1024), info: { type: "rsa", bits: 1024 }, reject: /RSA key size 1024 bits is not allowed; it must be between 2048 and 4096/ },
  { name: "RSA 2048", gen: rsa(2048), info: { type: "rsa", bits: 2048, exponent: 65537n } },
  { name: "RSA 4096", gen: rsa(4096), info: { type: "rsa", bits: 4096 } },
  { name: "RSA 2048 e=3", gen: rsa(2048, 3), info: { type: "rsa", exponent: 3n }, reject: /RSA public exponent 3 is too small; it must be at least 65537/ },
  { name: "ECDSA P-256", gen: ec("P-256"), info: { type: "ec", curve: "P-256" } },
  { name: "ECDSA P-384", gen: ec("P-384"), info: { type: "ec", curve: "P-384" } },
  { name: "ECDSA P-521", gen: ec("P-521"), info: { type: "ec", curve: "P-521" }, reject: /ECDSA curve P-521 is not allowed; use one of P-256, P-384/ },
  { name: "ECDSA secp256k1", gen: ec("secp256k1"), info: { type: "ec", curve: "secp256k1" }, reject: /curve secp256k1 is not allowed/ },
  { name: "Ed25519", gen: async () => (await keyPair("ed25519")).publicKey, info: { type: "ed25519" } },
  { name: "Ed448", gen: async () => (await keyPair("ed448")).publicKey, info: { type: "ed448" }, reject: /Ed448 keys are not supported/ },
  { name: "X25519", gen: async () => (await keyPair("x25519")).publicKey, info: { type: "unknown" }, reject: /unsupported key type: x25519/ },
];

describe("checkKey with generated keys", () => {
  for (const c of cases) {
    it(`${c.name}: ${c.reject ? "rejected" : "accepted"}`, async () => {
      const key = await c.gen();
      for (const info of [keyInfoFromSpki(spkiOf(key)), keyInfoFromJwk(jwkOf(key))]) {
        expect(info).toMatchObject(c.info);
        const err = rejection(info);
        if (c.reject) {
          expect(err?.type).toBe("badPublicKey");
          expect(err?.status).toBe(400);
          expect(err?.message).toMatch(c.reject);
        } else {
          expect(err).toBeUndefined();
        }
      }
    });
  }
});

const rsaDetailsKey = await rsa(2048)();
describe("checkKey on RSA details", () => {
  const real = keyInfoFromSpki(spkiOf(rsaDetailsKey)) as Extract<KeyInfo, { type: "rsa" }>;
  const n = real.modulus!;

  it("reads the modulus of a real key and finds no small factor", () => {
    expect(n.toString(2)).toHaveLength(2048);
    expect(rejection(real)).toBeUndefined();
  });

  // A JWK whose 2048-bit modulus is 997 times a prime: OpenSSL accepts it as a public key, so only the
  // factor check stands between it and a certificate.
  it("rejects a modulus with a small factor, via a JWK", () => {
    let q = generatePrimeSync(2038, { bigint: true });
    while (q < 3n << 2036n) q = generatePrimeSync(2038, { bigint: true }); // top two bits set: 997q has 2048 bits
    const bad = 997n * q;
    const jwk = { kty: "RSA", e: "AQAB", n: Buffer.from(bad.toString(16).padStart(512, "0"), "hex").toString("base64url") };
    const info = keyInfoFromJwk(jwk);
    expect(info).toMatchObject({ type: "rsa", bits: 2048 });
    expect(rejection(info)?.message).toBe("RSA modulus is divisible by the small prime 997");
    expect(keyInfoFromSpki(spkiFromJwk(jwk))).toEqual(info);
  });

  const table: { name: string; info: KeyInfo; detail: string }[] = [
    { name: "size not a multiple of 8", info: { type: "rsa", bits: 2052, exponent: 65537n }, detail: "RSA key size 2052 bits is not a multiple of 8" },
    { name: "too large", info: { type: "rsa", bits: 8192, exponent: 65537n }, detail: "RSA key size 8192 bits is not allowed; it must be between 2048 and 4096 bits" },
    { name: "even exponent", info: { type: "rsa", bits: 2048, exponent: 65538n }, detail: "RSA public exponent 65538 is even" },
    { name: "exponent 2^32+1", info: { type: "rsa", bits: 2048, exponent: (1n << 32n) + 1n }, detail: "RSA public exponent 4294967297 is too large; it must be below 2^32" },
    { name: "even modulus", info: { type: "rsa", bits: 2048, exponent: 65537n, modulus: n + 1n }, detail: "RSA modulus is even" },
    { name: "modulus divisible by 3", info: { type: "rsa", bits: 2048, exponent: 65537n, modulus: 3n * 1000003n }, detail: "RSA modulus is divisible by the small prime 3" },
  ];
  for (const t of table) {
    it(t.name, () => expect(rejection(t.info)?.message).toBe(t.detail));
  }

  it("accepts the largest allowed exponent below 2^32", () => {
    expect(rejection({ type: "rsa", bits: 2048, exponent: (1n << 32n) - 1n })).toBeUndefined();
  });
});

describe("policies", () => {
  it("a stricter policy rejects what the default accepts", () => {
    const strict: KeyPolicy = { rsaMinBits: 3072, rsaMaxBits: 4096, ecdsaCurves: ["P-384"], allowEd25519: false };
    expect(rejection({ type: "rsa", bits: 2048, exponent: 65537n }, strict)?.message).toMatch(/between 3072 and 4096/);
    expect(rejection({ type: "ec", curve: "P-256" }, strict)?.message).toBe("ECDSA curve P-256 is not allowed; use one of P-384");
    expect(rejection({ type: "ed25519" }, strict)?.message).toBe("Ed25519 keys are not allowed");
    expect(rejection({ type: "ec", curve: "P-384" }, strict)).toBeUndefined();
  });

  it("the default policy is Boulder's", () => {
    expect(defaultKeyPolicy).toEqual({ rsaMinBits: 2048, rsaMaxBits: 4096, ecdsaCurves: ["P-256", "P-384"], allowEd25519: true });
  });
});

describe("keys from JWKs and SPKIs that are not keys", () => {
  it("an unparsable SPKI is an unknown key, rejected as badPublicKey", () => {
    const info = keyInfoFromSpki(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]));
    expect(info.type).toBe("unknown");
    expect(rejection(info)?.type).toBe("badPublicKey");
  });

  it("an SPKI with an unknown algorithm OID names the OID", () => {
    // SEQUENCE { SEQUENCE { OID 1.2.3.4 }, BIT STRING 00 01 }
    const spki = new Uint8Array([0x30, 0x0b, 0x30, 0x05, 0x06, 0x03, 0x2a, 0x03, 0x04, 0x03, 0x02, 0x00, 0x01]);
    expect(keyInfoFromSpki(spki)).toEqual({ type: "unknown", algorithm: "1.2.3.4" });
  });

  it("a broken JWK is an unknown key for keyInfoFromJwk and badPublicKey for spkiFromJwk", () => {
    const jwk = { kty: "EC", crv: "P-256", x: "AAAA", y: "AAAA" };
    expect(keyInfoFromJwk(jwk)).toEqual({ type: "unknown", algorithm: "EC P-256" });
    expect(() => spkiFromJwk(jwk)).toThrowError(expect.objectContaining({ type: "badPublicKey" }));
  });

  it("spkiFromJwk gives the same SPKI node exports", async () => {
    const key = await ec("P-256")();
    expect(Buffer.from(spkiFromJwk(jwkOf(key)))).toEqual(Buffer.from(spkiOf(key)));
  });
});

describe("key facts remembered by SPKI bytes (a CSR's key is looked at again when its leaf is issued)", () => {
  it("the same answers, for each key's own bytes, from a view into a larger buffer too, past the memory's bound", async () => {
    const keys = await Promise.all([ec("prime256v1"), ec("secp384r1"), rsa(2048)].map((g) => g()));
    const expected = keys.map((k) => keyInfoFromSpki(spkiOf(k)));
    expect(expected.map((i) => i.type)).toEqual(["ec", "ec", "rsa"]);
    for (let round = 0; round < 2; round++) {
      keys.forEach((k, i) => {
        const spki = spkiOf(k);
        const padded = new Uint8Array(spki.length + 8);
        padded.set(spki, 4);
        expect(keyInfoFromSpki(spki)).toEqual(expected[i]);
        expect(keyInfoFromSpki(padded.subarray(4, 4 + spki.length))).toEqual(expected[i]);
      });
      // push the three out of the bounded memory: answers are recomputed, not lost or mixed up
      for (let n = 0; n < 1100; n++) keyInfoFromSpki(new Uint8Array([0x30, 0x03, 0x02, 0x01, n & 0x7f, n >> 7]));
    }
    expect(keyInfoFromSpki(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])).type).toBe("unknown");
  });
});
