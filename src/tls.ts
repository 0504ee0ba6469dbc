// The ACME server's own HTTPS certificate: issued by Anvil's intermediate for the configured
// hostnames, kept in <data>/tls, reused across starts, and renewed in place before it expires.
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { issueServerCertificate, type Issuer } from "./issuance/index.js";

export interface ServerTls {
  cert: string;
  key: string;
  notAfter: Date;
}

function covers(cert: X509Certificate, hostnames: string[]): boolean {
  const san = cert.subjectAltName ?? "";
  const names = new Set(san.split(", ").map((e) => e.replace(/^(DNS|IP Address):/, "").toLowerCase()));
  return hostnames.every((h) => names.has(h.toLowerCase()));
}

/** Loads the stored certificate if it is still good for `renewBefore` seconds, else issues a new one. */
export async function ensureServerTls(opts: { dir: string; issuer: Issuer; hostnames: string[]; lifetimeSeconds: number; renewBefore: number; now?: Date }): Promise<ServerTls> {
  const now = opts.now ?? new Date();
  const certFile = path.join(opts.dir, "server.pem");
  const keyFile = path.join(opts.dir, "server.key");
  if (existsSync(certFile) && existsSync(keyFile)) {
    const certPem = readFileSync(certFile, "utf8");
    const leaf = new X509Certificate(certPem);
    const intermediate = new X509Certificate(opts.issuer.intermediatePem);
    const notAfter = new Date(leaf.validTo);
    const fresh = notAfter.getTime() - now.getTime() > opts.renewBefore * 1000;
    const keyPem = readFileSync(keyFile, "utf8");
    if (fresh && covers(leaf, opts.hostnames) && leaf.checkIssued(intermediate) && leaf.verify(intermediate.publicKey) && matches(leaf, keyPem)) {
      return { cert: certPem, key: keyPem, notAfter };
    }
  }
  const issued = await issueServerCertificate(opts.issuer, { hostnames: opts.hostnames, days: Math.ceil(opts.lifetimeSeconds / 86400), now });
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  // one file holding key and certificate would be simpler for readers, but these two are what operators expect;
  // each is replaced atomically, and a pair that does not match is re-issued at the next start
  writeAtomic(keyFile, issued.keyPem, 0o600);
  writeAtomic(certFile, issued.certPem, 0o644);
  return { cert: issued.certPem, key: issued.keyPem, notAfter: issued.notAfter };
}

function matches(leaf: X509Certificate, keyPem: string): boolean {
  try {
    const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: "spki", format: "der" });
    return fromKey.equals(leaf.publicKey.export({ type: "spki", format: "der" }));
  } catch {
    return false;
  }
}

/** Several instances may share a data folder: never let one read a half-written file. */
function writeAtomic(file: string, content: string, mode: number): void {
  const tmp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  writeFileSync(tmp, content, { mode });
  renameSync(tmp, file);
}
