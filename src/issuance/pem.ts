// PEM text (RFC 7468) for certificates: what operators paste in and what clients download.

export function toPem(der: Uint8Array, label = "CERTIFICATE"): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** DER of every block with the given label, in order; text between blocks is ignored. */
export function pemBlocks(text: string, label = "CERTIFICATE"): Uint8Array[] {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]*?)-----END ${label}-----`, "g");
  const out: Uint8Array[] = [];
  for (const m of text.matchAll(re)) out.push(new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ""), "base64")));
  return out;
}

/** Exactly one certificate in `text`, or an Error naming `what`. */
export function singleCertDer(text: string, what: string): Uint8Array {
  const blocks = pemBlocks(text);
  if (blocks.length !== 1) {
    throw new Error(`${what}: expected exactly one PEM CERTIFICATE block, found ${blocks.length}`);
  }
  return blocks[0]!;
}
