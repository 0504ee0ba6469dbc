// The CA: re-checks the request, picks the serial and the validity window, signs with the issuer.
// Storage of the result is the RA's job (one transaction with the order), so a certificate and its
// valid order always appear together.
import { addSeconds, type Clock } from "../core/clock.js";
import type { ParsedCsr } from "../core/csr.js";
import { canonicalSerial, newId } from "../core/ids.js";
import type { Certificate, Order } from "../core/types.js";
import { AcmeError } from "../errors/index.js";
import { checkKey } from "../goodkey/index.js";
import { newSerial, type Issuer } from "../issuance/index.js";

export interface CAConfig {
  certificateLifetime: number; // seconds, when the order does not ask for a window
  maxCertificateLifetime: number;
  /** backdate notBefore a little so clients with a slow clock accept the certificate at once */
  backdateSeconds?: number;
}

export function createCA(deps: { issuer: Issuer; clock: Clock; config: CAConfig }) {
  const { issuer, clock, config } = deps;
  return {
    parseCsr: (der: Uint8Array): Promise<ParsedCsr> => issuer.parseCsr(der),
    async issue(order: Order, csr: ParsedCsr): Promise<Certificate> {
      checkKey(csr.key); // defence in depth: the RA checked it too
      const now = clock.now();
      const notBefore = order.notBefore ?? addSeconds(now, -(config.backdateSeconds ?? 60));
      // never past the intermediate's own expiry: such a certificate could not be validated to the end
      const wanted = order.notAfter ?? addSeconds(notBefore, config.certificateLifetime);
      const notAfter = wanted > issuer.intermediateNotAfter ? issuer.intermediateNotAfter : wanted;
      if ((notAfter.getTime() - notBefore.getTime()) / 1000 > config.maxCertificateLifetime + (config.backdateSeconds ?? 60)) {
        throw new AcmeError("badCSR", "the requested validity exceeds this CA's maximum lifetime");
      }
      const identifiers = order.identifiers;
      const commonName = csr.commonName?.toLowerCase() ?? (identifiers.find((i) => i.type === "dns" && i.value.length <= 64)?.value);
      const serial = newSerial();
      const der = await issuer.issue({ spki: csr.spki, identifiers, commonName, notBefore, notAfter, serial });
      // what the certificate says, without parsing it again: X.509 times have whole seconds
      const seconds = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);
      return {
        id: newId(),
        serial: canonicalSerial(serial),
        accountId: order.accountId,
        orderId: order.id,
        der,
        issuer: issuer.id,
        identifiers,
        notBefore: seconds(notBefore),
        notAfter: seconds(notAfter),
        status: "valid",
      };
    },
  };
}

export type CA = ReturnType<typeof createCA>;
