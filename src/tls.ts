// The ACME server's own HTTPS certificate: issued by Anvil's intermediate for the configured
// hostnames, kept in <data>/tls, reused across starts, and renewed in place before it expires.
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
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
    if (fresh && covers(leaf, opts.hostnames) && leaf.checkIssued(intermediate) && leaf.verify(intermediate.publicKey)) {
      return { cert: certPem, key: readFileSync(keyFile, "utf8"), notAfter };
    }
  }
  const issued = await issueServerCertificate(opts.issuer, { hostnames: opts.hostnames, days: Math.ceil(opts.lifetimeSeconds / 86400), now });
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  writeFileSync(keyFile, issued.keyPem, { mode: 0o600 });
  writeFileSync(certFile, issued.certPem);
  return { cert: issued.certPem, key: issued.keyPem, notAfter: issued.notAfter };
}
