// JWS checks (RFC 8555 §6.2–6.5), each a small function tested by itself (Boulder wfe2/verify.go).
// Order of work for a request: shape → protected header → key → signature → nonce → url. The
// signature is checked before the nonce is redeemed, so a forged request cannot burn a nonce.
import { constants, KeyObject, verify, type webcrypto } from "node:crypto";
import { importJWK, type JWK } from "jose";
import type { JsonWebKeyLike } from "../core/types.js";
import { AcmeError, malformed } from "../errors/index.js";

export const ALGORITHMS = ["RS256", "PS256", "ES256", "ES384", "ES512", "EdDSA"] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

export interface FlattenedJws {
  protected: string;
  payload: string;
  signature: string;
}

export interface ProtectedHeader {
  alg: Algorithm;
  nonce?: string;
  url: string;
  jwk?: JsonWebKeyLike;
  kid?: string;
  [other: string]: unknown;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

export function decodeB64url(value: string, what: string): Buffer {
  if (!B64URL.test(value)) throw malformed(`${what} is not base64url without padding`);
  return Buffer.from(value, "base64url");
}

/** The body must be a flattened JWS JSON object: one signature, no unprotected header (§6.2). */
export function parseFlattened(body: string): FlattenedJws {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw malformed("the request body is not JSON: ACME requests are JWS in flattened JSON serialization");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw malformed("the request body must be a JWS object in flattened JSON serialization");
  }
  const jws = parsed as Record<string, unknown>;
  if ("signatures" in jws) throw malformed("JWS general serialization is not allowed: send exactly one signature, flattened");
  if ("header" in jws) throw malformed("JWS unprotected headers are not allowed");
  for (const field of ["protected", "payload", "signature"] as const) {
    if (typeof jws[field] !== "string") throw malformed(`the JWS has no "${field}" string`);
  }
  return { protected: jws.protected as string, payload: jws.payload as string, signature: jws.signature as string };
}

/** Decodes and checks the protected header; `need` says which of jwk/kid the endpoint takes. */
export function parseProtected(jws: FlattenedJws, need: "jwk" | "kid" | "either", opts: { nonce: boolean } = { nonce: true }): ProtectedHeader {
  let header: unknown;
  try {
    header = JSON.parse(decodeB64url(jws.protected, "the protected header").toString("utf8"));
  } catch (err) {
    if (err instanceof AcmeError) throw err;
    throw malformed("the protected header is not JSON");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) throw malformed("the protected header must be a JSON object");
  const h = header as Record<string, unknown>;
  if (typeof h.alg !== "string" || !(ALGORITHMS as readonly string[]).includes(h.alg)) {
    throw new AcmeError("badSignatureAlgorithm", `JWS algorithm ${JSON.stringify(h.alg ?? null)} is not supported; use one of ${ALGORITHMS.join(", ")}`, {
      extra: { algorithms: [...ALGORITHMS] },
    });
  }
  if ("b64" in h || "crit" in h) throw malformed('the "b64" and "crit" header parameters are not allowed in ACME');
  const hasJwk = h.jwk !== undefined;
  const hasKid = h.kid !== undefined;
  if (hasJwk && hasKid) throw malformed('the protected header must contain "jwk" or "kid", not both');
  if (!hasJwk && !hasKid) throw malformed('the protected header must contain "jwk" or "kid"');
  if (need === "jwk" && !hasJwk) throw malformed('this request must be signed with the key in a "jwk" header (no "kid")');
  if (need === "kid" && !hasKid) throw malformed('this request must use the account URL as "kid" (no "jwk")');
  if (hasJwk && (typeof h.jwk !== "object" || h.jwk === null || typeof (h.jwk as JsonWebKeyLike).kty !== "string")) {
    throw malformed('"jwk" must be a JSON Web Key object');
  }
  if (hasJwk && "d" in (h.jwk as object)) throw malformed('"jwk" contains a private key: send only the public key');
  if (hasKid && typeof h.kid !== "string") throw malformed('"kid" must be a string (the account URL)');
  if (opts.nonce && (typeof h.nonce !== "string" || h.nonce.length === 0)) {
    throw new AcmeError("badNonce", 'the protected header has no "nonce"');
  }
  if (h.nonce !== undefined && typeof h.nonce !== "string") throw new AcmeError("badNonce", '"nonce" must be a string');
  if (typeof h.url !== "string") throw malformed('the protected header has no "url"');
  return h as unknown as ProtectedHeader;
}

/** Which algorithms a key may sign with (RFC 7518): a mismatch is badSignatureAlgorithm. */
export function checkAlgorithmForKey(alg: Algorithm, jwk: JsonWebKeyLike): void {
  const ok =
    (jwk.kty === "RSA" && (alg === "RS256" || alg === "PS256")) ||
    (jwk.kty === "EC" && ((jwk.crv === "P-256" && alg === "ES256") || (jwk.crv === "P-384" && alg === "ES384") || (jwk.crv === "P-521" && alg === "ES512"))) ||
    (jwk.kty === "OKP" && jwk.crv === "Ed25519" && alg === "EdDSA");
  if (!ok) {
    throw new AcmeError("badSignatureAlgorithm", `algorithm ${alg} does not match the ${String(jwk.kty)}${jwk.crv ? ` ${String(jwk.crv)}` : ""} key`, {
      extra: { algorithms: [...ALGORITHMS] },
    });
  }
}

export type KeyImporter = (jwk: JsonWebKeyLike, alg: Algorithm) => Promise<KeyObject>;

// jose imports and checks the JWK; the key is then kept as a KeyObject and verified with node:crypto's
// one-shot verify (no WebCrypto CryptoKey: a fifth of the cost, docs/performance.md), on the request thread:
// ~65 µs for ES256. Handing it to libuv's thread pool instead (verify with a callback) spared the request
// thread ~50 µs but cost the machine two thread wake-ups per request; on these 2-core VMs, where a
// context switch is dear, that was the worse deal (docs/performance.md, session 15: 63 → 48 context
// switches per certificate on PostgreSQL, 24 → 12 on SQLite).
const importUncached: KeyImporter = async (jwk, alg) => KeyObject.from((await importJWK(jwk as JWK, alg)) as webcrypto.CryptoKey);

/** RFC 7518: how each algorithm verifies; ECDSA signatures are R‖S of fixed length (§3.4). Arguments node:crypto refuses throw: verifySignature counts that as "no". */
const VERIFIERS: Record<Algorithm, (data: Buffer, key: KeyObject, sig: Buffer) => boolean> = {
  RS256: (d, k, s) => verify("sha256", d, k, s),
  PS256: (d, k, s) => verify("sha256", d, { key: k, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, s),
  ES256: (d, k, s) => s.length === 64 && verify("sha256", d, { key: k, dsaEncoding: "ieee-p1363" }, s),
  ES384: (d, k, s) => s.length === 96 && verify("sha384", d, { key: k, dsaEncoding: "ieee-p1363" }, s),
  ES512: (d, k, s) => s.length === 132 && verify("sha512", d, { key: k, dsaEncoding: "ieee-p1363" }, s),
  EdDSA: (d, k, s) => verify(null, d, k, s),
};

/**
 * Imported keys by JWK and algorithm: an account signs many requests with one key, and importing costs
 * more than verifying. Bounded; the oldest entry goes first.
 */
export function createKeyCache(size = 10_000): KeyImporter {
  const cache = new Map<string, KeyObject>();
  return async (jwk, alg) => {
    const cacheKey = `${alg}:${JSON.stringify(jwk)}`;
    let key = cache.get(cacheKey);
    if (!key) {
      key = await importUncached(jwk, alg);
      if (cache.size >= size) cache.delete(cache.keys().next().value!);
      cache.set(cacheKey, key);
    }
    return key;
  };
}

/** Verifies the signature with the given public key; a bad signature is malformed (Boulder's choice). */
export async function verifySignature(jws: FlattenedJws, alg: Algorithm, jwk: JsonWebKeyLike, importKey: KeyImporter = importUncached): Promise<void> {
  checkAlgorithmForKey(alg, jwk);
  let key;
  try {
    key = await importKey(jwk, alg);
  } catch (err) {
    throw new AcmeError("badPublicKey", `the JWK cannot be used: ${(err as Error).message}`);
  }
  let ok = false;
  try {
    const sig = decodeB64url(jws.signature, "the JWS signature");
    ok = VERIFIERS[alg](Buffer.from(`${jws.protected}.${jws.payload}`, "ascii"), key, sig);
  } catch {
    ok = false;
  }
  if (!ok) throw malformed("the JWS signature is invalid");
}

/** "" is POST-as-GET (undefined); otherwise the payload must be base64url JSON. */
export function decodePayload(jws: FlattenedJws): unknown {
  if (jws.payload === "") return undefined;
  const text = decodeB64url(jws.payload, "the JWS payload").toString("utf8");
  try {
    return JSON.parse(text);
  } catch {
    throw malformed("the JWS payload is not JSON");
  }
}
