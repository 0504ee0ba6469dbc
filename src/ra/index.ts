// The registration authority: the rules, and the only orchestrator of sa, va and ca.
import type { NonceClaim } from "../core/nonce-claim.js";
import type { Account } from "../core/types.js";
import { notFound, unauthorized } from "../errors/index.js";
import { accounts } from "./accounts.js";
import { authorizations } from "./authorizations.js";
import type { RADeps } from "./deps.js";
import { finalizer } from "./finalize.js";
import { orders } from "./orders.js";
import { revocation } from "./revocation.js";
import { createValidator } from "./validator.js";

export type { CertificateAuthority, RAConfig, RADeps } from "./deps.js";
export type { OrderView } from "./orders.js";
export type { RevocationAuth } from "./revocation.js";
export { KeyInUseError } from "./accounts.js";

export function createRA(deps: RADeps, opts: { validatorPollMs?: number; recoveryMs?: number } = {}) {
  const validator = createValidator(deps, { pollMs: opts.validatorPollMs });
  const orderOps = orders(deps);
  const fin = finalizer(deps, orderOps.view);
  let recoveryTimer: NodeJS.Timeout | undefined;

  return {
    ...accounts(deps),
    ...orderOps,
    ...authorizations(deps, validator),
    ...revocation(deps),
    finalize: (account: Account, orderId: string, payload: unknown, nonce?: NonceClaim) =>
      fin.finalize(account, orderId, payload, () => orderOps.getOrder(account, orderId, nonce), nonce),

    /** The account behind a kid, if it may act (RFC 8555 §7.3.6: deactivated accounts may not). */
    async accountForKid(id: string): Promise<Account | undefined> {
      return deps.sa.getAccount(id);
    },
    /** Certificates are public: any valid account may download one by its URL. */
    async getCertificate(_account: Account, id: string, nonce?: NonceClaim) {
      const cert = await deps.sa.getCertificate(id, nonce);
      if (!cert) throw notFound("certificate");
      return cert;
    },
    requireValid(account: Account): void {
      if (account.status !== "valid") throw unauthorized(`the account is ${account.status}`);
    },

    startBackground(): void {
      validator.start();
      void fin.recover().catch(() => undefined);
      recoveryTimer = setInterval(() => void fin.recover().catch(() => undefined), opts.recoveryMs ?? 5_000);
      recoveryTimer.unref();
    },
    async stopBackground(timeoutMs: number): Promise<void> {
      if (recoveryTimer) clearInterval(recoveryTimer);
      await validator.stop(timeoutMs);
    },
    validationsRunning: () => validator.running(),
  };
}

export type RA = ReturnType<typeof createRA>;
