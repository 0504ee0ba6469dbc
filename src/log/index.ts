// pino setup. One JSON line per request (from Fastify), audit events for what a CA must be able to
// account for. Secrets (keys, passphrases, JWS signatures, EAB MACs) are never logged.
import pino, { type Logger } from "pino";

export type { Logger } from "pino";

export function createLogger(opts: { level: string; destination?: pino.DestinationStream }): Logger {
  return pino(
    {
      level: opts.level,
      base: { svc: "anvil" },
      redact: {
        paths: ["req.headers.authorization", "passphrase", "*.passphrase", "key", "*.privateKey", "signature", "*.signature"],
        censor: "[redacted]",
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination,
  );
}

export type AuditEvent =
  | { event: "account.created"; accountId: string; contact: string[] }
  | { event: "account.updated"; accountId: string; contact?: string[]; status?: string }
  | { event: "account.key-changed"; accountId: string; oldKeyId: string; newKeyId: string }
  | { event: "certificate.issued"; accountId: string; orderId: string; serial: string; names: string[]; notAfter: string }
  | { event: "certificate.revoked"; serial: string; reason: number; by: string }
  | { event: "authorization.validated"; authzId: string; identifier: string; challenge: string; status: string };

export function audit(log: Logger, e: AuditEvent): void {
  log.info({ audit: true, ...e }, e.event);
}
