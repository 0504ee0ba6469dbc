// Wire shapes (RFC 8555 §7.1.2–7.1.5), kept apart from domain objects.
import type { Account, Authorization, Challenge, Order } from "../core/types.js";
import type { Linker } from "./linker.js";

const time = (d: Date) => d.toISOString();

export function accountView(a: Account, link: Linker) {
  return { status: a.status, contact: a.contact, termsOfServiceAgreed: a.tosAgreed, orders: link.accountOrders(a.id) };
}

export function orderView(o: Order, link: Linker) {
  return {
    status: o.status,
    expires: time(o.expires),
    identifiers: o.identifiers,
    ...(o.notBefore ? { notBefore: time(o.notBefore) } : {}),
    ...(o.notAfter ? { notAfter: time(o.notAfter) } : {}),
    ...(o.error ? { error: o.error } : {}),
    authorizations: o.authzIds.map((id) => link.authz(id)),
    finalize: link.finalize(o.id),
    ...(o.certificateId && o.status === "valid" ? { certificate: link.certificate(o.certificateId) } : {}),
  };
}

export function challengeView(c: Challenge, link: Linker) {
  return {
    type: c.type,
    url: link.challenge(c.id),
    status: c.status,
    token: c.token,
    ...(c.validated ? { validated: time(c.validated) } : {}),
    // RFC 8555 §8.2: while retrying, a processing challenge shows the last failed attempt's error
    ...(c.error && (c.status === "invalid" || c.status === "processing") ? { error: c.error } : {}),
    ...(c.validationRecord ? { validationRecord: c.validationRecord } : {}),
  };
}

export function authzView(a: Authorization, link: Linker) {
  // Once valid, only the challenge that succeeded is listed (as Boulder and Pebble do).
  const challenges = a.status === "valid" ? a.challenges.filter((c) => c.status === "valid") : a.challenges;
  return {
    identifier: a.identifier,
    status: a.status,
    expires: time(a.expires),
    challenges: challenges.map((c) => challengeView(c, link)),
    ...(a.wildcard ? { wildcard: true } : {}),
  };
}
