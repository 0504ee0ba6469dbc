// Public keys as facts: what kind of key an SPKI or a JWK holds, so goodkey can judge it. Parsing goes
// through node:crypto (OpenSSL), which also rejects EC points that are not on their curve. A small strict
// DER reader lives here too, shared with the CSR parser, so that neither depends on a library's leniency.
import { createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import type { JsonWebKeyLike } from "./types.js";
import { AcmeError } from "../errors/index.js";

// ---------------------------------------------------------------------------------------------------
// DER reading (X.690 §10: definite, minimal lengths; single-byte tags are all PKIX needs)

export interface DerTlv {
  tag: number;
  /** offset of the tag byte */
  start: number;
  /** offset of the first content byte */
  body: number;
  /** offset just past the content */
  end: number;
}

export class DerError extends Error {}

export function readTlv(buf: Uint8Array, pos: number, limit: number = buf.length): DerTlv {
  if (pos + 2 > limit) throw new DerError("truncated DER element");
  const tag = buf[pos]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError("multi-byte DER tags are not supported");
  let len = buf[pos + 1]!;
  let body = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new DerError("indefinite length is not DER");
    if (n > 4 || body + n > limit) throw new DerError("DER length too large or truncated");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[body + i]!;
    if (buf[body] === 0 || len < 0x80) throw new DerError("DER length is not minimally encoded");
    body += n;
  }
  const end = body + len;
  if (end > limit) throw new DerError("DER element runs past its container");
  return { tag, start: pos, body, end };
}

/** The elements inside a constructed TLV; they must fill it exactly. */
export function derChildren(buf: Uint8Array, parent: DerTlv): DerTlv[] {
  const out: DerTlv[] = [];
  for (let pos = parent.body; pos < parent.end; ) {
    const t = readTlv(buf, pos, parent.end);
    out.push(t);
    pos = t.end;
  }
  return out;
}

/** Reads one TLV that must span the whole buffer (no trailing bytes). */
export function derReadWhole(buf: Uint8Array, expectedTag: number): DerTlv {
  const t = readTlv(buf, 0);
  if (t.tag !== expectedTag) throw new DerError(`expected tag 0x${expectedTag.toString(16)}, got 0x${t.tag.toString(16)}`);
  if (t.end !== buf.length) throw new DerError("trailing bytes after the DER element");
  return t;
}

export function derExpect(t: DerTlv | undefined, tag: number, what: string): DerTlv {
  if (!t || t.tag !== tag) throw new DerError(`${what}: unexpected or missing element`);
  return t;
}

export function derContent(buf: Uint8Array, t: DerTlv): Uint8Array {
  return buf.subarray(t.body, t.end);
}

export function decodeOid(bytes: Uint8Array): string {
  if (bytes.length === 0) throw new DerError("empty OBJECT IDENTIFIER");
  const arcs: bigint[] = [];
  let v = 0n;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (v === 0n && b === 0x80) throw new DerError("OBJECT IDENTIFIER arc is not minimally encoded");
    v = (v << 7n) | BigInt(b & 0x7f);
    if (!(b & 0x80)) {
      arcs.push(v);
      v = 0n;
    } else if (i === bytes.length - 1) throw new DerError("truncated OBJECT IDENTIFIER");
  }
  const first = arcs[0]!;
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].join(".");
}

// ---------------------------------------------------------------------------------------------------
// Key facts

export type KeyInfo =
  | { type: "rsa"; bits: number; exponent: bigint; /** present when parsed from a real key */ modulus?: bigint }
  | { type: "ec"; curve: string /* "P-256" | "P-384" | "P-521" | curve name or OID */ }
  | { type: "ed25519" }
  | { type: "ed448" }
  | { type: "unknown"; algorithm: string };

const CURVES: Record<string, string> = { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" };
const ID_EC_PUBLIC_KEY = "1.2.840.10045.2.1";

export function keyInfoFromKeyObject(key: KeyObject): KeyInfo {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "rsa": {
      const n = (key.export({ format: "jwk" }) as JsonWebKey).n ?? "";
      const modulus = BigInt("0x" + (Buffer.from(n, "base64url").toString("hex") || "0"));
      return { type: "rsa", bits: details.modulusLength ?? 0, exponent: details.publicExponent ?? 0n, modulus };
    }
    case "ec": {
      const name = details.namedCurve ?? "unknown";
      return { type: "ec", curve: CURVES[name] ?? name };
    }
    case "ed25519":
      return { type: "ed25519" };
    case "ed448":
      return { type: "ed448" };
    default:
      return { type: "unknown", algorithm: key.asymmetricKeyType ?? "unknown" };
  }
}

// OpenSSL 3 takes ~0.2 ms to decode a public key, and a certificate's key is looked at twice in the same
// thread (the CSR is parsed, then the leaf issued for it), so the last few answers are remembered by the
// exact SPKI bytes.
const RECENT_KEYS = 1024;
const recentKeyInfo = new Map<string, KeyInfo>();
const spkiId = (spki: Uint8Array): string => Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength).toString("latin1");

/** Remembers what `spki` was found to be (parseCsr, which decodes the key anyway to check the signature). */
export function rememberKeyInfo(spki: Uint8Array, info: KeyInfo): void {
  if (recentKeyInfo.size >= RECENT_KEYS) recentKeyInfo.delete(recentKeyInfo.keys().next().value!);
  recentKeyInfo.set(spkiId(spki), info);
}

/** Parses a DER SubjectPublicKeyInfo. Never throws: a key nobody can read is { type: "unknown" }. */
export function keyInfoFromSpki(spki: Uint8Array): KeyInfo {
  const known = recentKeyInfo.get(spkiId(spki));
  if (known) return known;
  let info: KeyInfo;
  try {
    info = keyInfoFromKeyObject(publicKeyFromSpki(spki));
  } catch {
    info = unknownSpki(spki);
  }
  rememberKeyInfo(spki, info);
  return info;
}

/**
 * The public key of a DER SubjectPublicKeyInfo. The usual EC and RSA keys are imported from their
 * numbers (as a JWK): OpenSSL 3.0 decoding DER sets up its provider decoders each time (~0.12 ms, and
 * under shared locks that the other threads' OpenSSL calls also take), the JWK import takes the numbers
 * as they are (~0.06 ms for EC, which OpenSSL still checks on the curve; ~0.01 ms for RSA). Anything
 * not in the one canonical form read below goes to OpenSSL's decoder, which decides.
 */
export function publicKeyFromSpki(spki: Uint8Array): KeyObject {
  const jwk = canonicalSpkiJwk(spki);
  if (jwk) {
    try {
      return createPublicKey({ key: jwk, format: "jwk" });
    } catch {
      // e.g. a point not on the curve: the decoder below refuses it too, with its own message
    }
  }
  return createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
}

const OID_EC_PUBLIC_KEY_DER = "06072a8648ce3d0201";
const OID_RSA_ENCRYPTION_NULL_DER = "06092a864886f70d0101010500";
// namedCurve OID (DER) → JWK crv, coordinate length, and the field prime p (coordinates must be < p)
const EC_SPKI_CURVES: Record<string, { crv: string; size: number; p: Buffer }> = {
  "06082a8648ce3d030107": {
    crv: "P-256",
    size: 32,
    p: Buffer.from("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff", "hex"),
  },
  "06052b81040022": {
    crv: "P-384",
    size: 48,
    p: Buffer.from("fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff", "hex"),
  },
  "06052b81040023": { crv: "P-521", size: 66, p: Buffer.from("01" + "ff".repeat(65), "hex") },
};

/**
 * The JWK of an SPKI that is exactly `SEQUENCE { SEQUENCE { id-ecPublicKey, namedCurve P-256/384/521 },
 * BIT STRING (0 unused) uncompressed point with coordinates < p }` or `SEQUENCE { SEQUENCE {
 * rsaEncryption, NULL }, BIT STRING (0 unused) { SEQUENCE { INTEGER n, INTEGER e } } }` with n and e
 * positive and minimally encoded; undefined for anything else.
 */
export function canonicalSpkiJwk(spki: Uint8Array): JsonWebKey | undefined {
  try {
    const buf = Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength);
    const [alg, bits, ...rest] = derChildren(buf, derReadWhole(buf, 0x30));
    if (rest.length || alg?.tag !== 0x30 || bits?.tag !== 0x03 || buf[bits.body] !== 0) return undefined;
    const algDer = buf.toString("hex", alg.body, alg.end);
    const key = buf.subarray(bits.body + 1, bits.end);
    if (algDer.startsWith(OID_EC_PUBLIC_KEY_DER)) {
      const curve = EC_SPKI_CURVES[algDer.slice(OID_EC_PUBLIC_KEY_DER.length)];
      if (!curve || key.length !== 1 + 2 * curve.size || key[0] !== 0x04) return undefined;
      const x = key.subarray(1, 1 + curve.size);
      const y = key.subarray(1 + curve.size);
      if (x.compare(curve.p) >= 0 || y.compare(curve.p) >= 0) return undefined;
      return { kty: "EC", crv: curve.crv, x: x.toString("base64url"), y: y.toString("base64url") };
    }
    if (algDer === OID_RSA_ENCRYPTION_NULL_DER) {
      const [n, e, ...more] = derChildren(key, derReadWhole(key, 0x30));
      const positive = (t: DerTlv | undefined): Buffer | undefined => {
        if (t?.tag !== 0x02 || t.end - t.body < 1) return undefined;
        const v = key.subarray(t.body, t.end);
        if (v[0]! & 0x80) return undefined; // negative
        if (v[0] === 0 && (v.length === 1 || !(v[1]! & 0x80))) return undefined; // zero, or not minimal
        return v[0] === 0 ? v.subarray(1) : v;
      };
      const modulus = positive(n);
      const exponent = positive(e);
      if (more.length || !modulus || !exponent) return undefined;
      return { kty: "RSA", n: modulus.toString("base64url"), e: exponent.toString("base64url") };
    }
  } catch {
    // not DER: the decoder reports it
  }
  return undefined;
}

// OpenSSL refused the key; name what it claimed to be so the rejection message is useful.
function unknownSpki(spki: Uint8Array): KeyInfo {
  try {
    const top = derReadWhole(spki, 0x30);
    const [alg] = derChildren(spki, top);
    const [oid, params] = derChildren(spki, derExpect(alg, 0x30, "algorithm"));
    const algorithm = decodeOid(derContent(spki, derExpect(oid, 0x06, "algorithm OID")));
    if (algorithm === ID_EC_PUBLIC_KEY && params?.tag === 0x06) {
      return { type: "ec", curve: decodeOid(derContent(spki, params)) };
    }
    return { type: "unknown", algorithm };
  } catch {
    return { type: "unknown", algorithm: "unparsable SubjectPublicKeyInfo" };
  }
}

// Accounts are cached objects, so finalize (which compares the CSR's key with the account's) converts
// each account key once, not once per order.
const spkiOfJwk = new WeakMap<JsonWebKeyLike, Uint8Array>();

/**
 * DER SPKI of a public JWK; throws AcmeError badPublicKey when the JWK is not a usable public key.
 * Remembered per JWK object: treat the result as read-only, and the JWK as immutable.
 */
export function spkiFromJwk(jwk: JsonWebKeyLike): Uint8Array {
  let spki = spkiOfJwk.get(jwk);
  if (spki === undefined) {
    spki = spkiFromJwkUncached(jwk);
    spkiOfJwk.set(jwk, spki);
  }
  return spki;
}

function spkiFromJwkUncached(jwk: JsonWebKeyLike): Uint8Array {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as JsonWebKey, format: "jwk" });
  } catch (err) {
    throw new AcmeError("badPublicKey", `the JWK (kty ${String(jwk.kty)}) is not a valid public key`, { cause: err });
  }
  return new Uint8Array(key.export({ type: "spki", format: "der" }));
}

export function keyInfoFromJwk(jwk: JsonWebKeyLike): KeyInfo {
  try {
    return keyInfoFromKeyObject(createPublicKey({ key: jwk as JsonWebKey, format: "jwk" }));
  } catch {
    const crv = typeof jwk.crv === "string" ? ` ${jwk.crv}` : "";
    return { type: "unknown", algorithm: `${String(jwk.kty)}${crv}` };
  }
}
