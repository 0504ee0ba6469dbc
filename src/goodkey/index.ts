// Key policy for account keys and CSR keys (Boulder's goodkey): which algorithms and sizes Anvil
// accepts, plus cheap sanity checks that catch broken key generators. One reason per rejection, precise
// enough that a client author can fix their code from the problem detail alone.
import type { KeyInfo } from "../core/csr.js";
import { AcmeError } from "../errors/index.js";

export interface KeyPolicy {
  rsaMinBits: number;
  rsaMaxBits: number;
  ecdsaCurves: string[];
  allowEd25519: boolean;
}

export const defaultKeyPolicy: KeyPolicy = Object.freeze({
  rsaMinBits: 2048,
  rsaMaxBits: 4096,
  ecdsaCurves: Object.freeze(["P-256", "P-384"]) as string[],
  allowEd25519: true,
});

const bad = (detail: string) => new AcmeError("badPublicKey", detail);

/** Throws AcmeError badPublicKey when the key is not acceptable under the policy. */
export function checkKey(key: KeyInfo, policy: KeyPolicy = defaultKeyPolicy): void {
  switch (key.type) {
    case "rsa":
      return checkRsa(key, policy);
    case "ec":
      if (!policy.ecdsaCurves.includes(key.curve)) {
        throw bad(`ECDSA curve ${key.curve} is not allowed; use one of ${policy.ecdsaCurves.join(", ") || "(none)"}`);
      }
      return;
    case "ed25519":
      if (!policy.allowEd25519) throw bad("Ed25519 keys are not allowed");
      return;
    case "ed448":
      throw bad("Ed448 keys are not supported");
    case "unknown":
      throw bad(`unsupported key type: ${key.algorithm}`);
  }
}

function checkRsa(key: Extract<KeyInfo, { type: "rsa" }>, policy: KeyPolicy): void {
  if (key.bits < policy.rsaMinBits || key.bits > policy.rsaMaxBits) {
    throw bad(`RSA key size ${key.bits} bits is not allowed; it must be between ${policy.rsaMinBits} and ${policy.rsaMaxBits} bits`);
  }
  if (key.bits % 8 !== 0) throw bad(`RSA key size ${key.bits} bits is not a multiple of 8`);
  // NIST SP 800-89 §5.3.3 asks for an odd exponent with 2^16 < e < 2^256; small exponents such as 3
  // invite Coppersmith/Bleichenbacher-style attacks on sloppy padding. We also cap e below 2^32, as
  // Boulder does, because common verifiers (Go's crypto/rsa, Windows CryptoAPI) refuse larger exponents,
  // so a certificate for such a key would be useless to its subscriber.
  const e = key.exponent;
  if (e % 2n === 0n) throw bad(`RSA public exponent ${e} is even`);
  if (e < 65537n) throw bad(`RSA public exponent ${e} is too small; it must be at least 65537`);
  if (e >= 1n << 32n) throw bad(`RSA public exponent ${e} is too large; it must be below 2^32`);
  if (key.modulus !== undefined) checkModulus(key.modulus);
}

// A modulus with a small factor is a broken key (a correct n = p*q has no factor below 2^1000); the
// test costs a few microseconds and catches buggy or malicious key generators.
const SMALL_PRIMES = primesBelow(1000);

function checkModulus(n: bigint): void {
  if (n % 2n === 0n) throw bad("RSA modulus is even");
  for (const p of SMALL_PRIMES) {
    if (n % p === 0n) throw bad(`RSA modulus is divisible by the small prime ${p}`);
  }
}

function primesBelow(limit: number): bigint[] {
  const composite = new Uint8Array(limit);
  const out: bigint[] = [];
  for (let i = 2; i < limit; i++) {
    if (composite[i]) continue;
    out.push(BigInt(i));
    for (let j = i * i; j < limit; j += i) composite[j] = 1;
  }
  return out;
}
