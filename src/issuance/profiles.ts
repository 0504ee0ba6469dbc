// Certificate profiles: the extensions of the root, the intermediate and subscriber leaves, in
// Let's Encrypt's shape and order. The SAN is encoded here by hand so IP addresses are exactly the bytes
// we validated (the library's IPv6 text parser is lenient).
import * as x509 from "@peculiar/x509";
import { ipToBytes } from "../core/csr.js";
import type { Identifier } from "../core/types.js";
import { x509Crypto } from "./keys.js";

const { KeyUsageFlags: KU, ExtendedKeyUsage: EKU } = x509;
const SERVER_AND_CLIENT = [EKU.serverAuth, EKU.clientAuth];

export async function rootExtensions(spki: Uint8Array): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(KU.keyCertSign | KU.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(spki, false, x509Crypto),
  ];
}

export async function intermediateExtensions(spki: Uint8Array, rootKeyId: string): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(true, 0, true),
    new x509.KeyUsagesExtension(KU.digitalSignature | KU.keyCertSign | KU.cRLSign, true),
    new x509.ExtendedKeyUsageExtension(SERVER_AND_CLIENT, false),
    await x509.SubjectKeyIdentifierExtension.create(spki, false, x509Crypto),
    new x509.AuthorityKeyIdentifierExtension(rootKeyId, false),
  ];
}

export interface LeafProfileInput {
  spki: Uint8Array;
  identifiers: Identifier[];
  hasSubject: boolean;
  rsaKey: boolean;
  authorityKeyId: string;
}

export async function leafExtensions(input: LeafProfileInput): Promise<x509.Extension[]> {
  // keyEncipherment only matters for RSA key transport (TLS 1.2 RSA kx); ECDSA/EdDSA keys never encipher.
  const usage = input.rsaKey ? KU.digitalSignature | KU.keyEncipherment : KU.digitalSignature;
  return [
    new x509.KeyUsagesExtension(usage, true),
    new x509.ExtendedKeyUsageExtension(SERVER_AND_CLIENT, false),
    new x509.BasicConstraintsExtension(false, undefined, true),
    await x509.SubjectKeyIdentifierExtension.create(input.spki, false, x509Crypto),
    new x509.AuthorityKeyIdentifierExtension(input.authorityKeyId, false),
    // RFC 5280 §4.2.1.6: with an empty subject the SAN carries the identity and must be critical.
    sanExtension(input.identifiers, !input.hasSubject),
  ];
}

/** The key identifier of a CA certificate: its SKI extension, else computed from its key (RFC 5280 method 1). */
export async function keyIdOf(cert: x509.X509Certificate): Promise<string> {
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski) return ski.keyId;
  return Buffer.from(await cert.publicKey.getKeyIdentifier(x509Crypto)).toString("hex");
}

export function sanExtension(identifiers: Identifier[], critical: boolean): x509.Extension {
  if (identifiers.length === 0) throw new Error("a certificate needs at least one identifier");
  const seen = new Set<string>();
  const names: Uint8Array[] = [];
  for (const id of identifiers) {
    const encoded = generalName(id);
    const key = Buffer.from(encoded).toString("hex");
    if (!seen.has(key)) names.push(encoded);
    seen.add(key);
  }
  return new x509.Extension("2.5.29.17", critical, tlv(0x30, concat(names)));
}

function generalName(id: Identifier): Uint8Array {
  if (id.type === "ip") {
    const bytes = ipToBytes(id.value);
    if (!bytes) throw new Error(`"${id.value}" is not an IP address`);
    return tlv(0x87, bytes); // [7] iPAddress
  }
  if (id.type === "dns") {
    const name = id.value.toLowerCase();
    // IA5String: internationalised names must arrive as A-labels ("xn--…").
    if (!/^[\x21-\x7e]+$/.test(name)) throw new Error(`"${id.value}" is not an ASCII DNS name`);
    return tlv(0x82, new TextEncoder().encode(name)); // [2] dNSName
  }
  throw new Error(`unsupported identifier type ${String((id as { type: unknown }).type)}`);
}

function tlv(tag: number, body: Uint8Array): Uint8Array {
  const len = body.length;
  let header: number[];
  if (len < 0x80) header = [tag, len];
  else if (len < 0x100) header = [tag, 0x81, len];
  else if (len < 0x10000) header = [tag, 0x82, len >> 8, len & 0xff];
  else header = [tag, 0x83, len >> 16, (len >> 8) & 0xff, len & 0xff];
  return concat([new Uint8Array(header), body]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/**
 * A subject written the RFC 4514 way ("CN=Anvil Root CA,O=Anvil", most specific first) as an X.501 Name,
 * whose DER order is the reverse (O, then CN), which is how openssl and browsers expect to show it.
 */
export function subjectFromString(rfc4514: string): x509.Name {
  let parsed: x509.Name;
  try {
    parsed = new x509.Name(rfc4514);
  } catch (err) {
    throw new Error(`cannot parse subject "${rfc4514}": ${(err as Error).message}`, { cause: err });
  }
  const rdns = parsed.toJSON();
  if (rdns.length === 0) throw new Error(`subject "${rfc4514}" has no attributes`);
  return new x509.Name(rdns.reverse());
}

export function commonNameOf(name: x509.Name): string {
  return name.getField("CN")[0] ?? "";
}
