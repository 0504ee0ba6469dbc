// Revocation (RFC 8555 §7.6): by the issuing account, by an account holding valid authorizations
// for every name in the certificate, or with the certificate's own key.
import { X509Certificate, timingSafeEqual } from "node:crypto";
import { effectiveAuthzStatus } from "../core/status.js";
import type { Account, Certificate } from "../core/types.js";
import { AcmeError, unauthorized } from "../errors/index.js";
import { audit } from "../log/index.js";
import type { RADeps } from "./deps.js";

/** RFC 5280 §5.3.1 CRLReason; 7 is unused, and removeFromCRL (8) only makes sense for delta CRLs. */
const REASONS = new Set([0, 1, 2, 3, 4, 5, 6, 8, 9, 10]);

export type RevocationAuth = { kind: "account"; account: Account } | { kind: "certificateKey"; spki: Uint8Array };

export function revocation(deps: RADeps) {
  const { sa, clock, log } = deps;

  async function authorized(cert: Certificate, auth: RevocationAuth): Promise<boolean> {
    if (auth.kind === "certificateKey") {
      const certSpki = new X509Certificate(cert.der).publicKey.export({ type: "spki", format: "der" });
      return certSpki.length === auth.spki.length && timingSafeEqual(certSpki, auth.spki);
    }
    if (cert.accountId === auth.account.id) return true;
    const now = clock.now();
    const ids = cert.identifiers.map((i) => ({ type: i.type, value: i.value.replace(/^\*\./, "") }));
    const authzs = (await sa.findValidAuthzs(auth.account.id, ids, now)).filter((a) => effectiveAuthzStatus(a, now) === "valid");
    return ids.every((i) => authzs.some((a) => a.identifier.type === i.type && a.identifier.value === i.value));
  }

  return {
    /** `der` is the certificate from the request; it must be one this CA issued, byte for byte. */
    async revoke(der: Uint8Array, serial: string, reason: unknown, auth: RevocationAuth): Promise<void> {
      const code = reason === undefined ? 0 : reason;
      if (typeof code !== "number" || !Number.isInteger(code) || !REASONS.has(code)) {
        throw new AcmeError("badRevocationReason", `reason must be one of ${[...REASONS].join(", ")} (RFC 5280 CRLReason)`);
      }
      const cert = await sa.getCertificateBySerial(serial);
      if (!cert || cert.der.length !== der.length || !timingSafeEqual(cert.der, der)) {
        throw new AcmeError("malformed", "this certificate was not issued by this CA", { status: 404 });
      }
      if (!(await authorized(cert, auth))) {
        throw unauthorized("the requester is not allowed to revoke this certificate: use the issuing account, an account with valid authorizations for all its names, or the certificate's key");
      }
      if (cert.status === "revoked" || !(await sa.revokeCertificate(serial, code, clock.now()))) {
        throw new AcmeError("alreadyRevoked", "the certificate is already revoked");
      }
      audit(log, { event: "certificate.revoked", serial, reason: code, by: auth.kind === "account" ? auth.account.id : "certificate key" });
    },
  };
}
