// RFC 7638 JWK thumbprints and RFC 8555 §8.1 key authorizations.
import { createHash } from "node:crypto";
import type { JsonWebKeyLike } from "./types.js";

const REQUIRED_MEMBERS: Record<string, string[]> = {
  EC: ["crv", "kty", "x", "y"],
  RSA: ["e", "kty", "n"],
  OKP: ["crv", "kty", "x"],
};

/** Only the public members of a key, in the order RFC 7638 requires (lexicographic). */
export function publicJwk(jwk: JsonWebKeyLike): JsonWebKeyLike {
  const members = REQUIRED_MEMBERS[jwk.kty];
  if (!members) throw new Error(`unsupported key type ${jwk.kty}`);
  const out: JsonWebKeyLike = { kty: jwk.kty };
  for (const m of members) {
    if (typeof jwk[m] !== "string") throw new Error(`JWK member "${m}" is missing`);
    out[m] = jwk[m];
  }
  return out;
}

export function jwkThumbprint(jwk: JsonWebKeyLike): string {
  const pub = publicJwk(jwk);
  const canonical = JSON.stringify(Object.fromEntries(Object.keys(pub).sort().map((k) => [k, pub[k]])));
  return createHash("sha256").update(canonical).digest("base64url");
}

export function keyAuthorization(token: string, jwk: JsonWebKeyLike): string {
  return `${token}.${jwkThumbprint(jwk)}`;
}
