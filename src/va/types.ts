// The validation authority's contract. The VA never touches storage: it returns what it saw and,
// on failure, a problem as data; the RA records the result.
import type { ChallengeType, Identifier, ProblemData, ValidationRecord } from "../core/types.js";

export interface ValidationRequest {
  type: ChallengeType;
  identifier: Identifier; // for a wildcard order, the base name (no "*.")
  token: string;
  keyAuthorization: string; // token + "." + base64url(JWK thumbprint)
}

export interface ValidationResult {
  records: ValidationRecord[];
  problem?: ProblemData; // absent when the challenge is satisfied
}

export interface ValidationAuthority {
  validate(req: ValidationRequest): Promise<ValidationResult>;
}

/** DNS lookups the VA needs, behind a small interface so tests can use a fake. */
export interface Resolver {
  /** A and AAAA records; a DnsError for NXDOMAIN, SERVFAIL or timeout */
  lookupHost(name: string): Promise<{ v4: string[]; v6: string[] }>;
  lookupTxt(name: string): Promise<string[]>;
  /** "host:port" of the servers asked, for validation records */
  readonly servers: string[];
}
