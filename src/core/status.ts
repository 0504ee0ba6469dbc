// Status as the client sees it (RFC 8555 §7.1.6). Storage keeps what happened; expiry and the
// authorizations' outcomes are applied on read, so nothing has to sweep rows for clients to see
// the RFC's states.
import type { Authorization, AuthzStatus, Order, OrderStatus } from "./types.js";

export function effectiveAuthzStatus(a: Pick<Authorization, "status" | "expires">, now: Date): AuthzStatus {
  if ((a.status === "pending" || a.status === "valid") && a.expires.getTime() <= now.getTime()) return "expired";
  return a.status;
}

export function effectiveOrderStatus(o: Pick<Order, "status" | "expires">, authzs: Pick<Authorization, "status" | "expires">[], now: Date): OrderStatus {
  if (o.status !== "pending" && o.status !== "ready") return o.status;
  if (o.expires.getTime() <= now.getTime()) return "invalid";
  const statuses = authzs.map((a) => effectiveAuthzStatus(a, now));
  if (statuses.some((s) => s !== "pending" && s !== "valid")) return "invalid";
  return statuses.every((s) => s === "valid") ? "ready" : "pending";
}
