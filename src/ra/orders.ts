// Orders (RFC 8555 §7.4): creation with authorization reuse, reads with the RFC's states, listing.
import { addSeconds } from "../core/clock.js";
import { canonicalIdentifier, identifierKey, sortIdentifiers } from "../core/identifiers.js";
import { newId, newToken } from "../core/ids.js";
import type { NonceClaim } from "../core/nonce-claim.js";
import { effectiveAuthzStatus, effectiveOrderStatus } from "../core/status.js";
import type { Account, Authorization, Identifier, Order, ProblemData } from "../core/types.js";
import { AcmeError, malformed, notFound, problemData, unauthorized } from "../errors/index.js";
import { checkOldest } from "../ratelimits/index.js";
import type { NewAuthz } from "../sa/index.js";
import type { RADeps } from "./deps.js";
import { isObject, parseRfc3339 } from "./payload.js";

export interface OrderView {
  order: Order;
  authzs: Authorization[];
}

/** The order found, if it is the account's: notFound if there is none, unauthorized if it is another account's. */
export function ownedBy<T extends { order: Order }>(found: T | undefined, account: Account): T {
  if (!found) throw notFound("order");
  if (found.order.accountId !== account.id) throw unauthorized("this order belongs to another account");
  return found;
}

export function orders(deps: RADeps) {
  const { sa, policy, clock, config, metrics } = deps;

  function parseIdentifiers(raw: unknown): Identifier[] {
    if (!Array.isArray(raw) || raw.length === 0) throw malformed('"identifiers" must be a non-empty array');
    const seen = new Map<string, Identifier>();
    for (const item of raw) {
      if (!isObject(item) || typeof item.type !== "string" || typeof item.value !== "string") {
        throw malformed('each identifier must be an object with string "type" and "value"');
      }
      const id = canonicalIdentifier({ type: item.type as Identifier["type"], value: item.value });
      seen.set(identifierKey(id), id);
    }
    if (seen.size > config.maxIdentifiersPerOrder) {
      throw new AcmeError("rejectedIdentifier", `an order may name at most ${config.maxIdentifiersPerOrder} identifiers`);
    }
    const ids = sortIdentifiers([...seen.values()]);
    const problems: ProblemData[] = [];
    for (const id of ids) {
      try {
        policy.checkIdentifier(id);
      } catch (err) {
        if (!(err instanceof AcmeError)) throw err;
        problems.push(err.toData());
      }
    }
    if (problems.length === 1) {
      const p = problems[0]!;
      throw new AcmeError(p.type.split(":").pop() as "rejectedIdentifier", p.detail, { identifier: p.identifier, subproblems: problems });
    }
    if (problems.length > 1) {
      throw new AcmeError("rejectedIdentifier", `${problems.length} of the order's identifiers are not acceptable, see subproblems`, { subproblems: problems });
    }
    return ids;
  }

  function validityWindow(payload: Record<string, unknown>, now: Date): { notBefore?: Date; notAfter?: Date } {
    const read = (field: "notBefore" | "notAfter") => {
      if (payload[field] === undefined) return undefined;
      const d = parseRfc3339(payload[field]);
      if (!d) throw malformed(`"${field}" must be an RFC 3339 date-time, e.g. 2026-01-02T03:04:05Z`);
      return d;
    };
    const notBefore = read("notBefore");
    const notAfter = read("notAfter");
    const max = config.maxCertificateLifetime;
    if (notAfter && notAfter.getTime() <= now.getTime()) throw malformed('"notAfter" is in the past');
    if (notBefore && notAfter && notAfter.getTime() <= notBefore.getTime()) throw malformed('"notAfter" must be after "notBefore"');
    if (notBefore && notBefore.getTime() > addSeconds(now, config.orderLifetime).getTime()) {
      throw malformed(`"notBefore" may be at most ${config.orderLifetime} seconds in the future`);
    }
    const start = notBefore ?? now;
    if (notAfter && (notAfter.getTime() - start.getTime()) / 1000 > max) {
      throw malformed(`the requested validity is longer than this CA's maximum of ${max / 86400} days`);
    }
    return { notBefore, notAfter };
  }

  /** The order as the client sees it; pass its authorizations when they are at hand (saves the reads). */
  async function view(order: Order, known?: Authorization[]): Promise<OrderView> {
    const authzs = known ?? (await sa.getAuthzs(order.authzIds));
    const now = clock.now();
    const status = effectiveOrderStatus(order, authzs, now);
    const out: Order = { ...order, status };
    if (status === "invalid" && !order.error) out.error = orderError(order, authzs, now);
    return { order: out, authzs };
  }

  return {
    view,

    /** `nonce`: the request's nonce claim, carried by the first read (sa) and settled before the order is written. */
    async newOrder(account: Account, payload: unknown, nonce?: NonceClaim): Promise<OrderView> {
      if (!isObject(payload)) throw malformed("the newOrder payload must be a JSON object");
      const now = clock.now();
      const identifiers = parseIdentifiers(payload.identifiers);
      const perAccount = config.rateLimits.newOrdersPerAccount;
      if (perAccount.limit > 0) checkOldest("newOrdersPerAccount", perAccount, await sa.nthNewestOrderTime(account.id, perAccount.limit, nonce), now);
      const window = validityWindow(payload, now);
      const reuseAfter = addSeconds(now, 24 * 3600); // reuse only authorizations with a day or more left
      const fresh = identifiers.map((id): NewAuthz => {
        const wildcard = id.value.startsWith("*.");
        const base: Identifier = { type: id.type, value: wildcard ? id.value.slice(2) : id.value };
        return {
          id: newId(),
          identifier: base,
          wildcard,
          expires: addSeconds(now, config.pendingAuthzLifetime),
          challenges: policy.challengeTypes(base, wildcard).map((type) => ({ id: newId(), type, token: newToken() })),
        };
      });
      let expires = addSeconds(now, config.orderLifetime);
      const orderId = newId();
      // the usual case, nothing to reuse: the order is written at once (on PostgreSQL with the nonce, one statement)
      let authzs: ({ reuse: string } | NewAuthz)[] = fresh;
      let reusable: Authorization[] = [];
      const base = { id: orderId, accountId: account.id, identifiers, ...window };
      if (!(await sa.createOrderUnlessReusable({ ...base, expires, authzs: fresh }, reuseAfter, nonce))) {
        // the nonce is settled: that call recorded it (or carried it) whatever it found
        reusable = await sa.findValidAuthzs(account.id, fresh.map((a) => a.identifier), reuseAfter);
        authzs = fresh.map((a) => {
          const found = reusable.find((r) => r.wildcard === a.wildcard && r.identifier.value === a.identifier.value && r.identifier.type === a.identifier.type);
          if (!found) return a;
          if (found.expires < expires) expires = found.expires;
          return { reuse: found.id };
        });
        await sa.createOrder({ ...base, expires, authzs });
      }
      metrics.orderCreated();
      // answer from what was just written instead of reading it back
      const all = authzs.map((a) => ("reuse" in a ? reusable.find((r) => r.id === a.reuse)! : freshAuthz(a, account.id, now)));
      const created: Order = { id: orderId, accountId: account.id, status: "pending", expires, identifiers, ...window, authzIds: all.map((a) => a.id), createdAt: now };
      return view(created, all);
    },

    async getOrder(account: Account, id: string, nonce?: NonceClaim): Promise<OrderView> {
      const found = ownedBy(await sa.getOrderWithAuthzs(id, nonce), account);
      return view(found.order, found.authzs);
    },

    /** One page of the account's order ids, newest first; `next` is the cursor of the next page. */
    async listOrders(account: Account, cursor: string | undefined, pageSize: number): Promise<{ ids: string[]; next?: string }> {
      let after: { id: string; createdAt: Date } | undefined;
      if (cursor) {
        after = (await sa.getOrderCursor(account.id, cursor)) ?? undefined;
        if (!after) throw malformed("unknown cursor");
      }
      const page = await sa.listOrderIds(account.id, pageSize + 1, after);
      const ids = page.slice(0, pageSize).map((o) => o.id);
      return { ids, next: page.length > pageSize ? ids[ids.length - 1] : undefined };
    },
  };
}

function freshAuthz(a: NewAuthz, accountId: string, now: Date): Authorization {
  return {
    id: a.id, accountId, identifier: a.identifier, wildcard: a.wildcard, status: "pending", expires: a.expires, createdAt: now,
    challenges: a.challenges.map((c) => ({ ...c, authzId: a.id, status: "pending" as const, attempts: 0 })).sort((x, y) => x.type.localeCompare(y.type)),
  };
}

/** Why an order is invalid, for its "error" field: the failed authorizations' challenge errors. */
function orderError(order: Order, authzs: Authorization[], now: Date): ProblemData {
  if (order.expires.getTime() <= now.getTime()) return problemData("malformed", "the order expired");
  const subproblems: ProblemData[] = [];
  for (const a of authzs) {
    const status = effectiveAuthzStatus(a, now);
    if (status === "pending" || status === "valid") continue;
    const failed = a.challenges.find((c) => c.error && c.status === "invalid");
    const base = failed?.error ?? problemData("unauthorized", `authorization for ${a.identifier.value} is ${status}`);
    subproblems.push({ ...base, identifier: a.identifier });
  }
  const first = subproblems[0];
  if (subproblems.length === 1 && first) return first;
  return problemData("unauthorized", "authorizations for this order failed, see subproblems", { subproblems });
}
