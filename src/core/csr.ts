// PKCS#10 certificate signing requests (RFC 2986) as facts for the RA: the key, whether the request is
// signed by that key, and the names it asks for. Parsed with a strict DER reader so that what we check
// is exactly what was signed; which names are acceptable is the RA's and policy's decision, not ours.
import { verify as verifySignature, type KeyObject } from "node:crypto";
import { AcmeError } from "../errors/index.js";
import { canonicalIp } from "./identifiers.js";
import {
  derChildren,
  derContent,
  decodeOid,
  derExpect,
  keyInfoFromKeyObject,
  keyInfoFromSpki,
  publicKeyFromSpki,
  rememberKeyInfo,
  derReadWhole,
  type DerTlv,
  type KeyInfo,
} from "./keys.js";

export type { KeyInfo } from "./keys.js";

export interface ParsedCsr {
  der: Uint8Array;
  spki: Uint8Array;
  key: KeyInfo;
  /** false when the signature does not verify with the CSR's own key (or the key cannot be read) */
  signatureValid: boolean;
  /** e.g. "sha256WithRSAEncryption", "ecdsa-with-SHA256", "Ed25519" */
  signatureAlgorithm: string;
  /** the subject CN as written (not lower-cased) */
  commonName?: string;
  /** dNSName SANs, lower-cased, duplicates removed, in request order */
  dnsNames: string[];
  /** iPAddress SANs in canonical text form: v4 dotted, v6 RFC 5952 compressed lower-case */
  ipAddresses: string[];
  /** every other SAN, as "email:…", "uri:…", "otherName:<oid>", "directoryName", "registeredID:<oid>", … */
  otherNames: string[];
}

const OID_CN = "2.5.4.3";
const OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
const OID_SAN = "2.5.29.17";

interface SigAlg {
  name: string;
  hash: string | null; // null: the algorithm carries its own hash (EdDSA)
  keyType: KeyInfo["type"];
}
const SIGNATURE_ALGORITHMS: Record<string, SigAlg> = {
  "1.2.840.113549.1.1.11": { name: "sha256WithRSAEncryption", hash: "sha256", keyType: "rsa" },
  "1.2.840.113549.1.1.12": { name: "sha384WithRSAEncryption", hash: "sha384", keyType: "rsa" },
  "1.2.840.113549.1.1.13": { name: "sha512WithRSAEncryption", hash: "sha512", keyType: "rsa" },
  "1.2.840.10045.4.3.2": { name: "ecdsa-with-SHA256", hash: "sha256", keyType: "ec" },
  "1.2.840.10045.4.3.3": { name: "ecdsa-with-SHA384", hash: "sha384", keyType: "ec" },
  "1.2.840.10045.4.3.4": { name: "ecdsa-with-SHA512", hash: "sha512", keyType: "ec" },
  "1.3.101.112": { name: "Ed25519", hash: null, keyType: "ed25519" },
  "1.3.101.113": { name: "Ed448", hash: null, keyType: "ed448" },
};
// Named so the refusal says why; SHA-1 signatures are not accepted (collision attacks, CA/B BR §7.1.3).
const REFUSED_ALGORITHMS: Record<string, string> = {
  "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
  "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
  "1.2.840.10045.4.1": "ecdsa-with-SHA1",
  "1.2.840.113549.1.1.10": "RSASSA-PSS",
  "1.2.840.10040.4.3": "dsa-with-SHA1",
};

const badCsr = (detail: string, cause?: unknown) => new AcmeError("badCSR", detail, { cause });

/** Parses and checks a DER PKCS#10 request. Throws AcmeError badCSR when it is not one. */
export async function parseCsr(der: Uint8Array): Promise<ParsedCsr> {
  const buf = new Uint8Array(der);
  let parts: RawCsr;
  try {
    parts = splitCsr(buf);
  } catch (err) {
    if (err instanceof AcmeError) throw err;
    throw badCsr(`the CSR is not a valid DER PKCS#10 request: ${(err as Error).message}`, err);
  }
  const alg = SIGNATURE_ALGORITHMS[parts.sigOid];
  if (!alg) {
    const name = REFUSED_ALGORITHMS[parts.sigOid] ?? parts.sigOid;
    throw badCsr(`the CSR signature algorithm ${name} is not supported`);
  }
  let keyObject: KeyObject | undefined;
  try {
    keyObject = publicKeyFromSpki(parts.spki);
  } catch {
    keyObject = undefined; // an unreadable key: reported via key.type "unknown", and the signature cannot be valid
  }
  const key = keyObject ? keyInfoFromKeyObject(keyObject) : keyInfoFromSpki(parts.spki);
  if (keyObject) rememberKeyInfo(parts.spki, key); // issuing for this CSR asks again (issuance/issuer.ts)
  const signatureValid =
    keyObject !== undefined && key.type === alg.keyType && checkSignature(alg, parts, keyObject);
  return {
    der: buf,
    spki: parts.spki,
    key,
    signatureValid,
    signatureAlgorithm: alg.name,
    ...(parts.commonName !== undefined ? { commonName: parts.commonName } : {}),
    ...parts.names,
  };
}

function checkSignature(alg: SigAlg, parts: RawCsr, key: KeyObject): boolean {
  try {
    return verifySignature(alg.hash, parts.signedBytes, key, parts.signature);
  } catch {
    return false; // e.g. an ECDSA signature that is not a DER SEQUENCE of two INTEGERs
  }
}

interface RawCsr {
  signedBytes: Uint8Array;
  sigOid: string;
  signature: Uint8Array;
  spki: Uint8Array;
  commonName?: string;
  names: { dnsNames: string[]; ipAddresses: string[]; otherNames: string[] };
}

function splitCsr(buf: Uint8Array): RawCsr {
  const top = derReadWhole(buf, 0x30);
  const [info, algId, sig, ...rest] = derChildren(buf, top);
  if (rest.length) throw badCsr("the CSR has extra elements after the signature");
  derExpect(info, 0x30, "certificationRequestInfo");
  const [oid] = derChildren(buf, derExpect(algId, 0x30, "signatureAlgorithm"));
  const sigOid = decodeOid(derContent(buf, derExpect(oid, 0x06, "signature algorithm OID")));
  const bits = derContent(buf, derExpect(sig, 0x03, "signature"));
  if (bits.length < 1 || bits[0] !== 0) throw badCsr("the CSR signature BIT STRING has unused bits");

  const [version, subject, spki, attrs, ...more] = derChildren(buf, info!);
  if (more.length) throw badCsr("the CSR's certificationRequestInfo has unexpected elements");
  const v = derContent(buf, derExpect(version, 0x02, "version"));
  if (v.length !== 1 || v[0] !== 0) throw badCsr("the CSR version must be 0 (v1)");
  derExpect(spki, 0x30, "subjectPKInfo");
  return {
    signedBytes: buf.subarray(info!.start, info!.end),
    sigOid,
    signature: bits.subarray(1),
    spki: buf.slice(spki!.start, spki!.end),
    commonName: subjectCommonName(buf, derExpect(subject, 0x30, "subject")),
    // Some encoders omit the attributes [0] although RFC 2986 requires it; that is harmless.
    names: attrs ? requestedNames(buf, derExpect(attrs, 0xa0, "attributes")) : emptyNames(),
  };
}

function subjectCommonName(buf: Uint8Array, subject: DerTlv): string | undefined {
  const found: string[] = [];
  for (const rdn of derChildren(buf, subject)) {
    for (const atv of derChildren(buf, derExpect(rdn, 0x31, "RDN"))) {
      const [type, value] = derChildren(buf, derExpect(atv, 0x30, "AttributeTypeAndValue"));
      if (decodeOid(derContent(buf, derExpect(type, 0x06, "attribute type"))) !== OID_CN) continue;
      if (!value) throw badCsr("the subject common name has no value");
      found.push(decodeString(value.tag, derContent(buf, value)));
    }
  }
  if (found.length > 1) throw badCsr("the CSR subject has more than one common name");
  return found[0];
}

function decodeString(tag: number, bytes: Uint8Array): string {
  switch (tag) {
    case 0x0c: // UTF8String
      return utf8(bytes);
    case 0x13: // PrintableString
    case 0x16: // IA5String
      return ascii(bytes);
    case 0x14: // TeletexString: in practice Latin-1
      return Buffer.from(bytes).toString("latin1");
    case 0x1e: // BMPString: UTF-16BE
      if (bytes.length % 2) throw badCsr("a BMPString in the subject has an odd length");
      return Buffer.from(bytes).swap16().toString("utf16le");
    default:
      throw badCsr(`the subject common name uses an unsupported string type (tag 0x${tag.toString(16)})`);
  }
}

function utf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (err) {
    throw badCsr("the CSR contains invalid UTF-8", err);
  }
}

function ascii(bytes: Uint8Array): string {
  if (bytes.some((b) => b > 0x7f)) throw badCsr("the CSR contains a non-ASCII character in an ASCII string");
  return Buffer.from(bytes).toString("latin1");
}

function emptyNames(): RawCsr["names"] {
  return { dnsNames: [], ipAddresses: [], otherNames: [] };
}

function requestedNames(buf: Uint8Array, attrs: DerTlv): RawCsr["names"] {
  const sans: DerTlv[] = [];
  for (const attr of derChildren(buf, attrs)) {
    const [type, values] = derChildren(buf, derExpect(attr, 0x30, "attribute"));
    if (decodeOid(derContent(buf, derExpect(type, 0x06, "attribute type"))) !== OID_EXTENSION_REQUEST) continue;
    for (const exts of derChildren(buf, derExpect(values, 0x31, "attribute values"))) {
      for (const ext of derChildren(buf, derExpect(exts, 0x30, "extensions"))) {
        const [id, second, third] = derChildren(buf, derExpect(ext, 0x30, "extension"));
        if (decodeOid(derContent(buf, derExpect(id, 0x06, "extension id"))) !== OID_SAN) continue;
        const value = derExpect(second?.tag === 0x01 ? third : second, 0x04, "extension value");
        sans.push(value);
      }
    }
  }
  if (sans.length > 1) throw badCsr("the CSR requests the subjectAltName extension more than once");
  if (!sans.length) return emptyNames();
  const inner = derContent(buf, sans[0]!);
  return generalNames(inner, derReadWhole(inner, 0x30));
}

function generalNames(buf: Uint8Array, seq: DerTlv): RawCsr["names"] {
  const names = emptyNames();
  const seen = new Set<string>();
  const add = (list: string[], value: string) => {
    const key = `${list === names.dnsNames ? "d" : list === names.ipAddresses ? "i" : "o"}:${value}`;
    if (!seen.has(key)) list.push(value);
    seen.add(key);
  };
  for (const gn of derChildren(buf, seq)) {
    const bytes = derContent(buf, gn);
    switch (gn.tag) {
      case 0x82: // dNSName
        add(names.dnsNames, ascii(bytes).toLowerCase());
        break;
      case 0x87: // iPAddress
        add(names.ipAddresses, ipToText(bytes));
        break;
      case 0x81: // rfc822Name
        add(names.otherNames, `email:${ascii(bytes)}`);
        break;
      case 0x86: // uniformResourceIdentifier
        add(names.otherNames, `uri:${ascii(bytes)}`);
        break;
      case 0xa0: { // otherName: type-id OID first
        const [typeId] = derChildren(buf, gn);
        add(names.otherNames, `otherName:${decodeOid(derContent(buf, derExpect(typeId, 0x06, "otherName type")))}`);
        break;
      }
      case 0x88: // registeredID
        add(names.otherNames, `registeredID:${decodeOid(bytes)}`);
        break;
      case 0xa4:
        add(names.otherNames, "directoryName");
        break;
      default:
        add(names.otherNames, `generalName[${gn.tag & 0x1f}]`); // x400Address, ediPartyName
    }
  }
  return names;
}

/** iPAddress SAN bytes (4 or 16) → canonical text, the same form as canonicalIdentifier(). */
export function ipToText(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  if (bytes.length !== 16) throw badCsr(`an iPAddress SAN has ${bytes.length} bytes; expected 4 or 16`);
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return canonicalIp(groups.join(":"))!;
}

/** Canonical or not, IP text → 4 or 16 bytes; undefined when it is not an IP address. */
export function ipToBytes(text: string): Uint8Array | undefined {
  let canon: string | undefined;
  try {
    canon = canonicalIp(text);
  } catch {
    return undefined; // e.g. an IPv6 zone id ("fe80::1%eth0"), which the URL parser refuses
  }
  if (canon === undefined || canon.includes("%")) return undefined;
  if (!canon.includes(":")) return new Uint8Array(canon.split(".").map(Number));
  // After canonicalIp there is at most one "::" and no dotted-quad tail.
  const [left, right] = canon.split("::") as [string, string | undefined];
  const head = left ? left.split(":") : [];
  const tail = right ? right.split(":") : [];
  const groups = right === undefined ? head : [...head, ...Array(8 - head.length - tail.length).fill("0"), ...tail];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}
