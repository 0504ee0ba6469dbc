// Pure domain types (RFC 8555 §7.1). No imports: everything else builds on these.

export type IdentifierType = "dns" | "ip";
export interface Identifier {
  type: IdentifierType;
  value: string;
}

export type AccountStatus = "valid" | "deactivated" | "revoked";
export type OrderStatus = "pending" | "ready" | "processing" | "valid" | "invalid";
export type AuthzStatus = "pending" | "valid" | "invalid" | "deactivated" | "expired" | "revoked";
export type ChallengeStatus = "pending" | "processing" | "valid" | "invalid";
export type ChallengeType = "http-01" | "dns-01" | "tls-alpn-01";
export type CertificateStatus = "valid" | "revoked";

/** A problem as data (RFC 7807 / RFC 8555 §6.7): what the VA returns and what is stored on objects. */
export interface ProblemData {
  type: string; // full URN, e.g. urn:ietf:params:acme:error:connection
  detail: string;
  status: number;
  identifier?: Identifier;
  subproblems?: ProblemData[];
}

/** RFC 8555 §8.3 and Boulder's validation records: what the VA did, for the client and for audit. */
export interface ValidationRecord {
  url?: string;
  hostname: string;
  port?: string;
  addressesResolved?: string[];
  addressUsed?: string;
  resolverAddrs?: string[];
}

export interface Account {
  id: string;
  keyId: string; // RFC 7638 thumbprint of the account key
  jwk: JsonWebKeyLike;
  contact: string[];
  status: AccountStatus;
  tosAgreed: boolean;
  createdAt: Date;
}

export interface Order {
  id: string;
  accountId: string;
  status: OrderStatus;
  expires: Date;
  identifiers: Identifier[];
  notBefore?: Date;
  notAfter?: Date;
  error?: ProblemData;
  authzIds: string[];
  certificateId?: string;
  createdAt: Date;
}

export interface Challenge {
  id: string;
  authzId: string;
  type: ChallengeType;
  token: string;
  status: ChallengeStatus;
  validated?: Date;
  error?: ProblemData;
  validationRecord?: ValidationRecord[];
  attempts: number;
  /** while processing: when the next validation attempt is due (RFC 8555 §8.2 retries) */
  nextAttempt?: Date;
}

export interface Authorization {
  id: string;
  accountId: string;
  identifier: Identifier;
  wildcard: boolean;
  status: AuthzStatus;
  expires: Date;
  createdAt: Date;
  challenges: Challenge[];
}

export interface Certificate {
  id: string;
  serial: string; // lower-case hex, no leading zeros stripped
  accountId: string;
  orderId: string;
  der: Uint8Array;
  issuer: string;
  identifiers: Identifier[];
  notBefore: Date;
  notAfter: Date;
  status: CertificateStatus;
  revokedAt?: Date;
  revokedReason?: number;
}

/** A public JWK as received in a JWS header (RFC 7517). */
export interface JsonWebKeyLike {
  kty: string;
  [member: string]: unknown;
}
