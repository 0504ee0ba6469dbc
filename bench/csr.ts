// A P-256 key and a PKCS#10 CSR built by hand in DER. The generator makes one per certificate, so it
// avoids the WebCrypto + ASN.1 object libraries (several ms of CPU each) that would otherwise make the
// load generator, not the server, the bottleneck on a 2-core machine.
import { generateKeyPair, sign, type KeyObject } from "node:crypto";
import { promisify } from "node:util";

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}

const seq = (...p: Buffer[]) => tlv(0x30, ...p);
const set = (...p: Buffer[]) => tlv(0x31, ...p);
const oid = (hex: string) => tlv(0x06, Buffer.from(hex, "hex"));

const OID_CN = oid("550403"); // 2.5.4.3
const OID_EXT_REQ = oid("2a864886f70d01090e"); // 1.2.840.113549.1.9.14
const OID_SAN = oid("551d11"); // 2.5.29.17
const OID_ECDSA_SHA256 = oid("2a8648ce3d040302"); // 1.2.840.10045.4.3.2

// SubjectPublicKeyInfo of a P-256 key up to the key itself: id-ecPublicKey, prime256v1, a 66-byte BIT STRING
const P256_SPKI_PREFIX = Buffer.from("3059301306072a8648ce3d020106082a8648ce3d030107034200", "hex");

/**
 * The DER SubjectPublicKeyInfo of a P-256 public key, from its coordinates: OpenSSL 3.0's DER encoder
 * (`export({ type: "spki" })`) costs ~90 µs, the JWK export ~3 µs.
 */
export function p256Spki(publicKey: KeyObject): Buffer {
  const { x, y } = publicKey.export({ format: "jwk" }) as { x: string; y: string };
  return Buffer.concat([P256_SPKI_PREFIX, Buffer.from([0x04]), Buffer.from(x, "base64url"), Buffer.from(y, "base64url")]);
}

export interface BenchCsr {
  der: Buffer;
  key: KeyObject;
}

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * A CSR with CN = names[0] and every name as a dNSName in the SAN, signed with a fresh P-256 key.
 *
 * The key comes from the asynchronous generateKeyPair, not generateKeyPairSync: on Node 20 a synchronous key
 * generation leaves a job object that the garbage collector destroys later, and its destructor takes the
 * key's lock. A collection that starts inside `export()` of that same key (which holds the lock while it
 * allocates) then waits for the lock forever: a generator process (and once a test, in CI) hung in
 * `KeyObjectHandle::ExportJWK` → GC → `~KeyGenJob` → `uv_mutex_lock`. An asynchronous job is deleted when it
 * completes, not by the collector.
 */
export async function makeCsr(names: string[]): Promise<BenchCsr> {
  const { privateKey, publicKey } = await generateKeyPairAsync("ec", { namedCurve: "P-256" });
  const spki = p256Spki(publicKey);
  const subject = seq(set(seq(OID_CN, tlv(0x0c, Buffer.from(names[0], "utf8")))));
  const san = seq(...names.map((n) => tlv(0x82, Buffer.from(n, "ascii"))));
  const extensions = seq(seq(OID_SAN, tlv(0x04, san)));
  const attributes = tlv(0xa0, seq(OID_EXT_REQ, set(extensions)));
  const info = seq(tlv(0x02, Buffer.from([0])), subject, spki, attributes);
  const signature = sign("sha256", info, privateKey); // DER-encoded ECDSA-Sig-Value
  const der = seq(info, seq(OID_ECDSA_SHA256), tlv(0x03, Buffer.from([0]), signature));
  return { der, key: privateKey };
}
