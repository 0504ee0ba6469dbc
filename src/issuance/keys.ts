// CA private keys: generation, PKCS#8 PEM storage (optionally passphrase-encrypted) and turning a key
// into a WebCrypto signer once, at load time, so issuing never re-parses key material.
import { createPrivateKey, createPublicKey, generateKeyPair, webcrypto, type KeyObject } from "node:crypto";
import { promisify } from "node:util";

export type KeySpec = { type: "ecdsa"; curve: "P-256" | "P-384" } | { type: "rsa"; bits: 2048 | 3072 | 4096 };

const generateKeyPairAsync = promisify(generateKeyPair);
export const subtle = webcrypto.subtle;
/** The WebCrypto provider handed to @peculiar/x509 explicitly (no global registration). */
export const x509Crypto: webcrypto.Crypto = webcrypto;

export async function generateKey(spec: KeySpec): Promise<KeyObject> {
  if (spec.type === "ecdsa") {
    if (spec.curve !== "P-256" && spec.curve !== "P-384") throw new Error(`unsupported CA key curve ${String(spec.curve)}`);
    return (await generateKeyPairAsync("ec", { namedCurve: spec.curve })).privateKey;
  }
  if (spec.type === "rsa") {
    if (![2048, 3072, 4096].includes(spec.bits)) throw new Error(`unsupported CA RSA key size ${String(spec.bits)}`);
    return (await generateKeyPairAsync("rsa", { modulusLength: spec.bits, publicExponent: 65537 })).privateKey;
  }
  throw new Error(`unsupported CA key type ${String((spec as { type: unknown }).type)}`);
}

/** PKCS#8 PEM; with a passphrase it is an ENCRYPTED PRIVATE KEY (PBES2, AES-256-CBC). */
export function privateKeyPem(key: KeyObject, passphrase?: string): string {
  if (passphrase) return key.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase }) as string;
  return key.export({ type: "pkcs8", format: "pem" }) as string;
}

/** Parses a private key PEM; `what` names the file in the error messages. */
export function loadPrivateKey(pem: string, what: string, passphrase?: string): KeyObject {
  const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem);
  if (encrypted && !passphrase) throw new Error(`${what} is encrypted: a passphrase is required to load it`);
  try {
    return createPrivateKey(passphrase ? { key: pem, passphrase } : { key: pem });
  } catch (err) {
    const msg = encrypted ? "wrong passphrase or damaged key" : (err as Error).message;
    throw new Error(`cannot load ${what}: ${msg}`, { cause: err });
  }
}

export function spkiOf(key: KeyObject): Uint8Array {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  return new Uint8Array(pub.export({ type: "spki", format: "der" }));
}

export interface Signer {
  key: webcrypto.CryptoKey;
  /** passed to @peculiar/x509 as signingAlgorithm */
  algorithm: { name: string; hash: string };
  /** e.g. "ECDSA P-384 / ecdsa-with-SHA384" for messages and logs */
  description: string;
}

// The hash follows the curve (as CA/B BR §7.1.3.2 pairs them); RSA signs with SHA-256 like Let's Encrypt.
const EC_HASH: Record<string, string> = { "P-256": "SHA-256", "P-384": "SHA-384", "P-521": "SHA-512" };
const NODE_CURVES: Record<string, string> = { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" };

export async function signerFor(key: KeyObject, what: string): Promise<Signer> {
  const pkcs8 = key.export({ type: "pkcs8", format: "der" });
  if (key.asymmetricKeyType === "ec") {
    const curve = NODE_CURVES[key.asymmetricKeyDetails?.namedCurve ?? ""];
    if (!curve) throw new Error(`${what}: EC curve ${key.asymmetricKeyDetails?.namedCurve} cannot sign certificates here`);
    const hash = EC_HASH[curve]!;
    const cryptoKey = await subtle.importKey("pkcs8", pkcs8, { name: "ECDSA", namedCurve: curve }, false, ["sign"]);
    return { key: cryptoKey, algorithm: { name: "ECDSA", hash }, description: `ECDSA ${curve} / ecdsa-with-${hash.replace("-", "")}` };
  }
  if (key.asymmetricKeyType === "rsa") {
    const alg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    const cryptoKey = await subtle.importKey("pkcs8", pkcs8, alg, false, ["sign"]);
    const bits = key.asymmetricKeyDetails?.modulusLength;
    return { key: cryptoKey, algorithm: alg, description: `RSA ${bits} / sha256WithRSAEncryption` };
  }
  throw new Error(`${what}: ${key.asymmetricKeyType} keys cannot sign certificates here (use ECDSA or RSA)`);
}
