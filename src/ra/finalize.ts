// Finalize (RFC 8555 §7.4): the order moves ready → processing with the CSR stored (a durable job, claimed by
// one finalize), the CSR is checked against the order (a refused CSR puts the order back to ready), the CA
// signs, and storage records the certificate and the valid order in one transaction. A crash after the claim
// leaves a processing order that the recovery loop checks and finishes from the stored CSR.
import { timingSafeEqual } from "node:crypto";
import { addSeconds } from "../core/clock.js";
import type { ParsedCsr } from "../core/csr.js";
import { canonicalIp, identifierKey } from "../core/identifiers.js";
import type { NonceClaim } from "../core/nonce-claim.js";
import { spkiFromJwk } from "../core/keys.js";
import type { Account, Order } from "../core/types.js";
import { AcmeError, malformed } from "../errors/index.js";
import { checkKey } from "../goodkey/index.js";
import { audit } from "../log/index.js";
import type { RADeps } from "./deps.js";
import { ownedBy, type OrderView } from "./orders.js";
import { isObject } from "./payload.js";

// a signing attempt takes milliseconds; a claim older than this belongs to a dead or stuck worker
const ISSUE_LOCK_SECONDS = 10;

export function finalizer(deps: RADeps, view: (o: Order, authzs?: OrderView["authzs"]) => Promise<OrderView>) {
  const { sa, ca, clock, log, metrics } = deps;

  /** Checks the CSR against the order (§7.4) and the key policy; throws badCSR / badPublicKey. */
  function checkCsr(csr: ParsedCsr, order: Order, account: Account): void {
    if (!csr.signatureValid) throw new AcmeError("badCSR", "the CSR's signature does not verify");
    if (csr.otherNames.length > 0) {
      throw new AcmeError("badCSR", `the CSR requests names of unsupported types: ${csr.otherNames.join(", ")}`);
    }
    const requested = new Set<string>();
    for (const n of csr.dnsNames) requested.add(identifierKey({ type: "dns", value: n.toLowerCase() }));
    for (const ip of csr.ipAddresses) requested.add(identifierKey({ type: "ip", value: canonicalIp(ip) ?? ip }));
    const ordered = new Set(order.identifiers.map(identifierKey));
    const missing = [...ordered].filter((k) => !requested.has(k));
    const extra = [...requested].filter((k) => !ordered.has(k));
    if (missing.length || extra.length) {
      const parts = [];
      if (extra.length) parts.push(`not in the order: ${extra.map((k) => k.replace(/^\w+:/, "")).join(", ")}`);
      if (missing.length) parts.push(`missing from the CSR: ${missing.map((k) => k.replace(/^\w+:/, "")).join(", ")}`);
      throw new AcmeError("badCSR", `the CSR's names must equal the order's identifiers (${parts.join("; ")})`);
    }
    if (csr.commonName !== undefined) {
      const cn = csr.commonName.toLowerCase();
      if (!ordered.has(`dns:${cn}`) && !ordered.has(`ip:${canonicalIp(cn) ?? cn}`)) {
        throw new AcmeError("badCSR", `the CSR's common name "${csr.commonName}" is not one of the order's identifiers`);
      }
    }
    checkKey(csr.key);
    const accountSpki = spkiFromJwk(account.jwk);
    if (accountSpki.length === csr.spki.length && timingSafeEqual(accountSpki, csr.spki)) {
      throw new AcmeError("badCSR", "the certificate key must not be the account key");
    }
  }

  /** Signs and stores; the order must already be "processing" and claimed by the caller. */
  /** Returns the stored certificate's id, or undefined if another worker finished the order first. */
  async function issue(order: Order, csr: ParsedCsr): Promise<string | undefined> {
    const cert = await ca.issue(order, csr);
    if (await sa.storeCertificate(cert)) {
      metrics.certificateIssued();
      audit(log, {
        event: "certificate.issued",
        accountId: order.accountId,
        orderId: order.id,
        serial: cert.serial,
        names: order.identifiers.map((i) => i.value),
        notAfter: cert.notAfter.toISOString(),
      });
      return cert.id;
    }
    return undefined;
  }

  async function resume(orderId: string): Promise<void> {
    const now = clock.now();
    if (!(await sa.claimFinalizeJob(orderId, now, addSeconds(now, ISSUE_LOCK_SECONDS)))) return;
    const order = await sa.getOrder(orderId);
    const der = await sa.getOrderCsr(orderId);
    if (!order || order.status !== "processing") return;
    const account = await sa.getAccount(order.accountId);
    if (!der || !account) {
      await sa.failOrder(orderId, new AcmeError("serverInternal", `the order lost its ${der ? "account" : "CSR"}`).toData());
      return;
    }
    // checked again: a claim is stored before its CSR is checked (finalize), and a crash between the two leaves it
    let csr: ParsedCsr;
    try {
      csr = await ca.parseCsr(der);
      checkCsr(csr, order, account);
    } catch (err) {
      if (!(err instanceof AcmeError)) throw err;
      log.warn({ orderId, problem: err.type }, "a stored CSR is refused: the order is ready again");
      await sa.releaseFinalize(orderId);
      return;
    }
    await issue(order, csr);
  }

  /** The payload's CSR as DER, or undefined if the payload is not {"csr": "<base64url DER>"}. */
  function csrOf(payload: unknown): Uint8Array | undefined {
    if (!isObject(payload) || typeof payload.csr !== "string" || !/^[A-Za-z0-9_-]+$/.test(payload.csr)) return undefined;
    return new Uint8Array(Buffer.from(payload.csr, "base64url"));
  }

  function notReady(status: Order["status"]): AcmeError {
    return new AcmeError("orderNotReady", `the order is ${status}, not ready: ${status === "pending" ? "complete its authorizations first" : "it cannot be finalized"}`);
  }

  return {
    /**
     * A request whose CSR parses claims the order at once (sa.claimFinalize: on PostgreSQL one statement with the
     * request's nonce and the order's read); the CSR is then checked against the order, and a refused CSR
     * releases the claim. Any other request reads the order first (`getOrder`, which carries the nonce) so that
     * its errors come in the same order as ever: the order's existence and owner, the payload, the order's
     * status, the CSR.
     */
    async finalize(account: Account, orderId: string, payload: unknown, getOrder: () => Promise<OrderView>, nonce?: NonceClaim): Promise<OrderView> {
      // anything wrong with the request itself: the order is read first (carrying the nonce), so that the errors
      // come in the order they always have
      const refuse = async (failure: unknown): Promise<never> => {
        const { order } = await getOrder();
        await nonce?.settle();
        if (payload === undefined) throw malformed('finalize needs a payload {"csr": "<base64url DER>"}');
        if (!isObject(payload) || typeof payload.csr !== "string") throw malformed('the finalize payload must be {"csr": "<base64url DER>"}');
        if (order.status !== "ready") throw notReady(order.status);
        throw failure;
      };
      const der = csrOf(payload);
      if (!der) return refuse(new AcmeError("badCSR", "the CSR is not base64url without padding"));
      let csr: ParsedCsr;
      try {
        csr = await ca.parseCsr(der);
      } catch (err) {
        return refuse(err);
      }
      const now = clock.now();
      // relaxed: the certificate's durable commit follows before the answer, or releaseFinalize's, or confirmDurable's
      const found = ownedBy(await sa.claimFinalize(orderId, account.id, der, now, addSeconds(now, ISSUE_LOCK_SECONDS), nonce, { relaxed: true }), account);
      if (!found.claimed) {
        const { order } = await view(found.order, found.authzs);
        throw order.status === "ready" ? new AcmeError("orderNotReady", "the order is already being finalized") : notReady(order.status);
      }
      const { order, authzs } = found;
      try {
        checkCsr(csr, order, account);
      } catch (err) {
        await sa.releaseFinalize(order.id);
        throw err;
      }
      try {
        const certificateId = await issue(order, csr);
        // stored in the same transaction that made the order valid: answer without reading it back
        if (certificateId) return view({ ...order, status: "valid", certificateId }, authzs);
      } catch (err) {
        // the order stays "processing" and the recovery loop retries after the lock expires
        log.error({ err, orderId: order.id }, "issuance failed; will retry");
      }
      await sa.confirmDurable("Order", order.id); // answered "processing": the job must survive a crash
      return view((await sa.getOrder(order.id))!);
    },

    /** Finish orders left "processing" by a crash or a failed signing attempt. */
    async recover(): Promise<number> {
      const due = await sa.dueFinalizeJobs(clock.now(), 20);
      for (const id of due) {
        await resume(id).catch((err) => log.error({ err, orderId: id }, "finalize recovery failed"));
      }
      return due.length;
    },
  };
}
