// One typed error for every ACME failure, turned into a problem document in exactly one place
// (toProblem). The table gives each RFC 8555 §6.7 type its HTTP status.
import type { Identifier, ProblemData } from "../core/types.js";

export const ACME_ERROR_NS = "urn:ietf:params:acme:error:";

export const PROBLEM_STATUS = {
  accountDoesNotExist: 400,
  alreadyReplaced: 409,
  alreadyRevoked: 400,
  badCSR: 400,
  badNonce: 400,
  badPublicKey: 400,
  badRevocationReason: 400,
  badSignatureAlgorithm: 400,
  caa: 403,
  compound: 403,
  connection: 400,
  dns: 400,
  externalAccountRequired: 403,
  incorrectResponse: 403,
  invalidContact: 400,
  invalidProfile: 400,
  malformed: 400,
  orderNotReady: 403,
  rateLimited: 429,
  rejectedIdentifier: 400,
  serverInternal: 500,
  tls: 400,
  unauthorized: 403,
  unsupportedContact: 400,
  unsupportedIdentifier: 400,
  userActionRequired: 403,
} as const;

export type ProblemType = keyof typeof PROBLEM_STATUS;

export interface AcmeErrorOptions {
  status?: number; // overrides the table, e.g. malformed 404 / 405 / 413 / 415, serverInternal 503
  subproblems?: ProblemData[];
  identifier?: Identifier;
  retryAfter?: number; // seconds
  headers?: Record<string, string>; // e.g. Location of the conflicting account (409)
  extra?: Record<string, unknown>; // extra members, e.g. "algorithms" for badSignatureAlgorithm
  cause?: unknown;
}

export class AcmeError extends Error {
  readonly type: ProblemType;
  readonly status: number;
  readonly subproblems?: ProblemData[];
  readonly identifier?: Identifier;
  readonly retryAfter?: number;
  readonly headers: Record<string, string>;
  readonly extra: Record<string, unknown>;

  constructor(type: ProblemType, detail: string, opts: AcmeErrorOptions = {}) {
    super(detail, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "AcmeError";
    this.type = type;
    this.status = opts.status ?? PROBLEM_STATUS[type];
    this.subproblems = opts.subproblems;
    this.identifier = opts.identifier;
    this.retryAfter = opts.retryAfter;
    this.headers = opts.headers ?? {};
    this.extra = opts.extra ?? {};
  }

  get detail(): string {
    return this.message;
  }

  toData(): ProblemData {
    return problemData(this.type, this.message, {
      identifier: this.identifier,
      subproblems: this.subproblems,
      status: this.status,
    });
  }
}

export function problemData(
  type: ProblemType,
  detail: string,
  opts: { identifier?: Identifier; subproblems?: ProblemData[]; status?: number } = {},
): ProblemData {
  const p: ProblemData = { type: ACME_ERROR_NS + type, detail, status: opts.status ?? PROBLEM_STATUS[type] };
  if (opts.identifier) p.identifier = opts.identifier;
  if (opts.subproblems?.length) p.subproblems = opts.subproblems;
  return p;
}

/** Shorthands for the common cases. */
export const malformed = (detail: string, opts?: AcmeErrorOptions) => new AcmeError("malformed", detail, opts);
export const unauthorized = (detail: string, opts?: AcmeErrorOptions) => new AcmeError("unauthorized", detail, opts);
export const badNonce = () =>
  new AcmeError("badNonce", "the nonce is unknown, expired or already used; retry with the fresh one in Replay-Nonce");
export const notFound = (what: string) => new AcmeError("malformed", `${what} not found`, { status: 404 });
export const internal = (detail = "internal error", opts?: AcmeErrorOptions) =>
  new AcmeError("serverInternal", detail, opts);

export interface Problem {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
  /** true when the error was not an AcmeError: the caller should log it, it is a bug or an outage */
  unexpected: boolean;
}

/**
 * The one place where anything thrown becomes an RFC 7807 problem document. An unexpected error is
 * answered as serverInternal with no internals; storage outages become 503 with Retry-After.
 */
export function toProblem(err: unknown): Problem {
  if (err instanceof AcmeError) {
    const headers = { ...err.headers };
    if (err.retryAfter !== undefined) headers["Retry-After"] = String(err.retryAfter);
    const body: Record<string, unknown> = { ...err.extra, ...err.toData() };
    return { status: err.status, headers, body, unexpected: false };
  }
  if (isUnavailable(err)) {
    return {
      status: 503,
      headers: { "Retry-After": "5" },
      body: problemData("serverInternal", "the service is temporarily unavailable, retry later", { status: 503 }) as unknown as Record<string, unknown>,
      unexpected: true,
    };
  }
  return {
    status: 500,
    headers: {},
    body: problemData("serverInternal", "internal error") as unknown as Record<string, unknown>,
    unexpected: true,
  };
}

/** Errors that mean "the database (or another dependency) is not reachable right now". */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof Error && (err as { code?: unknown }).code === "ANVIL_UNAVAILABLE") return true;
  const text = err instanceof Error ? `${err.name} ${err.message} ${String((err as { code?: unknown }).code ?? "")}` : "";
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Connection terminated|connection is closed|Can't reach database|P1001|P1017|SQLITE_BUSY|database is locked/i.test(
    text,
  );
}
