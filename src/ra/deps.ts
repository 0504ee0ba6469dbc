// What the RA needs, declared here (the RA owns these interfaces; app.ts wires implementations).
import type { Clock } from "../core/clock.js";
import type { Metrics } from "../core/metrics.js";
import type { Certificate, Order } from "../core/types.js";
import type { ParsedCsr } from "../core/csr.js";
import type { Logger } from "../log/index.js";
import type { Policy } from "../policy/index.js";
import type { RateLimitConfig } from "../ratelimits/index.js";
import type { Storage } from "../sa/index.js";
import type { ValidationAuthority } from "../va/types.js";

export interface CertificateAuthority {
  /** Signs a certificate for the order's identifiers with the CSR's key. Does not store it. */
  issue(order: Order, csr: ParsedCsr): Promise<Certificate>;
  /** Parses and checks a CSR's signature (core/csr), off the request thread where the CA has a worker. */
  parseCsr(der: Uint8Array): Promise<ParsedCsr>;
}

export interface RAConfig {
  orderLifetime: number; // seconds
  pendingAuthzLifetime: number;
  validAuthzLifetime: number;
  maxCertificateLifetime: number;
  contactSchemes: string[];
  maxContacts: number;
  maxIdentifiersPerOrder: number;
  termsOfService?: string;
  /** answerWithinMs: how long a challenge POST waits for the validation it started here (0: not at all) */
  validation: { concurrency: number; timeout: number; maxAttempts: number; answerWithinMs: number };
  rateLimits: RateLimitConfig;
}

export interface RADeps {
  sa: Storage;
  va: ValidationAuthority;
  ca: CertificateAuthority;
  policy: Policy;
  clock: Clock;
  log: Logger;
  config: RAConfig;
  metrics: Metrics;
}
