// Subscriber leaves encoded directly in DER (RFC 5280 §4.1), for the issuance hot path. The shape is
// exactly the one @peculiar/x509's generator makes from profiles.ts's leafExtensions — the unit tests
// compare the two byte for byte — at a twentieth of the CPU (no asn1js object tree, no WebCrypto job):
//
//   TBSCertificate: version v3, serial, signature algorithm, issuer (the intermediate's subject bytes),
//   validity, subject (CN or empty), the CSR's SubjectPublicKeyInfo, extensions:
//   keyUsage (critical), extKeyUsage (serverAuth, clientAuth), basicConstraints (critical, CA:FALSE),
//   subjectKeyIdentifier, authorityKeyIdentifier, subjectAltName (critical when the subject is empty).
import { createHash, sign, type KeyObject } from "node:crypto";
import { ipToBytes } from "../core/csr.js";
import type { Identifier } from "../core/types.js";

export function tlv(tag: number, ...body: Uint8Array[]): Buffer {
  const content = Buffer.concat(body);
  const len = content.length;
  let header: number[];
  if (len < 0x80) header = [tag, len];
  else if (len < 0x100) header = [tag, 0x81, len];
  else if (len < 0x10000) header = [tag, 0x82, len >> 8, len & 0xff];
  else header = [tag, 0x83, len >> 16, (len >> 8) & 0xff, len & 0xff];
  return Buffer.concat([Buffer.from(header), content]);
}

const SEQUENCE = 0x30;
const oid = (hex: string) => Buffer.from(hex, "hex"); // full TLV of an OBJECT IDENTIFIER
const OID_CN = oid("0603550403");
const OID_KU = oid("0603551d0f");
const OID_EKU = oid("0603551d25");
const OID_BC = oid("0603551d13");
const OID_SKI = oid("0603551d0e");
const OID_AKI = oid("0603551d23");
const OID_SAN = oid("0603551d11");
const EKU_SERVER_CLIENT = tlv(SEQUENCE, oid("06082b06010505070301"), oid("06082b06010505070302"));
const VERSION_3 = Buffer.from("a003020102", "hex");
const TRUE = Buffer.from("0101ff", "hex");

/** How the issuer's key signs: the AlgorithmIdentifier's DER and node:crypto's parameters. */
export interface LeafSigner {
  key: KeyObject;
  algorithmDer: Uint8Array;
  hash: "sha256" | "sha384" | "sha512" | null;
}

/** The signer for an intermediate key (ECDSA P-256/P-384/P-521, RSA, Ed25519), as signerFor in keys.ts picks. */
export function leafSignerFor(key: KeyObject): LeafSigner {
  const type = key.asymmetricKeyType;
  if (type === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === "prime256v1") return { key, hash: "sha256", algorithmDer: tlv(SEQUENCE, oid("06082a8648ce3d040302")) };
    if (curve === "secp384r1") return { key, hash: "sha384", algorithmDer: tlv(SEQUENCE, oid("06082a8648ce3d040303")) };
    if (curve === "secp521r1") return { key, hash: "sha512", algorithmDer: tlv(SEQUENCE, oid("06082a8648ce3d040304")) };
  }
  if (type === "rsa") return { key, hash: "sha256", algorithmDer: tlv(SEQUENCE, oid("06092a864886f70d01010b"), Buffer.from("0500", "hex")) };
  if (type === "ed25519") return { key, hash: null, algorithmDer: tlv(SEQUENCE, oid("06032b6570")) };
  throw new Error(`no leaf signer for a ${type} key`);
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, Z. */
function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, "") + "Z";
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(digits.slice(2), "ascii")) : tlv(0x18, Buffer.from(digits, "ascii"));
}

/** The BIT STRING content of an SPKI's subjectPublicKey (for the key identifier, RFC 5280 §4.2.1.2 method 1). */
function subjectPublicKeyBits(spki: Uint8Array): Uint8Array {
  const read = (buf: Uint8Array, at: number): { tag: number; start: number; end: number } => {
    const tag = buf[at]!;
    let len = buf[at + 1]!;
    let start = at + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = (len << 8) | buf[start + i]!;
      start += n;
    }
    return { tag, start, end: start + len };
  };
  const outer = read(spki, 0);
  const algorithm = read(spki, outer.start);
  const bits = read(spki, algorithm.end);
  if (outer.tag !== 0x30 || algorithm.tag !== 0x30 || bits.tag !== 0x03 || bits.end !== outer.end || outer.end !== spki.length) {
    throw new Error("not a DER SubjectPublicKeyInfo");
  }
  return spki.subarray(bits.start + 1, bits.end); // after the unused-bits octet
}

function generalName(id: Identifier): Buffer {
  if (id.type === "ip") {
    const bytes = ipToBytes(id.value);
    if (!bytes) throw new Error(`"${id.value}" is not an IP address`);
    return tlv(0x87, bytes); // [7] iPAddress
  }
  if (id.type === "dns") {
    const name = id.value.toLowerCase();
    // IA5String: internationalised names must arrive as A-labels ("xn--…")
    if (!/^[\x21-\x7e]+$/.test(name)) throw new Error(`"${id.value}" is not an ASCII DNS name`);
    return tlv(0x82, Buffer.from(name, "ascii")); // [2] dNSName
  }
  throw new Error(`unsupported identifier type ${String((id as { type: unknown }).type)}`);
}

/** The SAN's GeneralNames: each identifier once, in order. */
export function sanValue(identifiers: Identifier[]): Buffer {
  if (identifiers.length === 0) throw new Error("a certificate needs at least one identifier");
  const names = new Map<string, Buffer>();
  for (const id of identifiers) {
    const encoded = generalName(id);
    names.set(encoded.toString("hex"), encoded);
  }
  return tlv(SEQUENCE, ...names.values());
}

const extension = (id: Buffer, critical: boolean, value: Uint8Array) => tlv(SEQUENCE, id, ...(critical ? [TRUE] : []), tlv(0x04, value));

export interface LeafFields {
  serial: string; // canonical hex: the DER INTEGER's content (serial.ts)
  issuerName: Uint8Array; // the intermediate's subject, as encoded in its certificate
  authorityKeyId: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  commonName?: string;
  spki: Uint8Array;
  identifiers: Identifier[];
  rsaKey: boolean;
}

export function leafTbs(f: LeafFields, signer: LeafSigner): Buffer {
  // keyEncipherment only matters for RSA key transport (TLS 1.2 RSA kx); ECDSA/EdDSA keys never encipher
  const keyUsage = f.rsaKey ? Buffer.from("030205a0", "hex") : Buffer.from("03020780", "hex");
  const ski = createHash("sha1").update(subjectPublicKeyBits(f.spki)).digest();
  // PrintableString when the name fits its alphabet (X.680 §41.4), else UTF8String, as the library does
  const cnTag = f.commonName !== undefined && /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(f.commonName) ? 0x13 : 0x0c;
  const subject =
    f.commonName === undefined ? tlv(SEQUENCE) : tlv(SEQUENCE, tlv(0x31, tlv(SEQUENCE, OID_CN, tlv(cnTag, Buffer.from(f.commonName, "utf8")))));
  const extensions = tlv(
    SEQUENCE,
    extension(OID_KU, true, keyUsage),
    extension(OID_EKU, false, EKU_SERVER_CLIENT),
    extension(OID_BC, true, tlv(SEQUENCE)),
    extension(OID_SKI, false, tlv(0x04, ski)),
    extension(OID_AKI, false, tlv(SEQUENCE, tlv(0x80, f.authorityKeyId))),
    // RFC 5280 §4.2.1.6: with an empty subject the SAN carries the identity and must be critical
    extension(OID_SAN, f.commonName === undefined, sanValue(f.identifiers)),
  );
  return tlv(
    SEQUENCE,
    VERSION_3,
    tlv(0x02, Buffer.from(f.serial, "hex")),
    signer.algorithmDer,
    f.issuerName,
    tlv(SEQUENCE, time(f.notBefore), time(f.notAfter)),
    subject,
    f.spki,
    tlv(0xa3, extensions),
  );
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }. */
export function signTbs(tbs: Buffer, signer: LeafSigner): Buffer {
  const signature = sign(signer.hash, tbs, signer.key.asymmetricKeyType === "ec" ? { key: signer.key, dsaEncoding: "der" } : signer.key);
  return tlv(SEQUENCE, tbs, signer.algorithmDer, tlv(0x03, Buffer.from([0]), signature));
}
