// Certificate profiles: the extensions of the root, the intermediate and subscriber leaves, in
// Let's Encrypt's shape and order. The SAN is encoded by hand (leaf-der.ts) so IP addresses are exactly
// the bytes we validated (the library's IPv6 text parser is lenient). Subscriber leaves on the hot path
// are built by leaf-der.ts; leafExtensions is its reference (test/unit/leaf-der.test.ts).
import * as x509 from "@peculiar/x509";
import type { Identifier } from "../core/types.js";
import { x509Crypto } from "./keys.js";
import { sanValue } from "./leaf-der.js";

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
  return new x509.Extension("2.5.29.17", critical, sanValue(identifiers));
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
