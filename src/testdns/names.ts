// Input checks for the test DNS server: host names as clients send them (FQDN with or without the
// trailing dot, any case) and addresses. Bad input is refused with a message naming the field, so a
// client script with a typo fails loudly instead of publishing a record nobody will ever ask for.
import net from "node:net";
import { canonicalIp } from "../core/index.js";

/** Input the zone refuses; the management API answers it with 400 and the message. */
export class TestDnsInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TestDnsInputError";
  }
}

// Underscores are allowed: _acme-challenge and other service labels are the point of this server.
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** The lookup key of a host: lower case, no trailing dot. Throws TestDnsInputError when malformed. */
export function normalizeHost(host: unknown, field = "host"): string {
  if (typeof host !== "string" || host.trim() === "") throw new TestDnsInputError(`${field}: a non-empty string is required`);
  const name = host.trim().replace(/\.$/, "").toLowerCase();
  if (name.length > 253) throw new TestDnsInputError(`${field}: "${host}" is longer than 253 characters`);
  for (const label of name.split(".")) {
    if (!LABEL.test(label)) {
      throw new TestDnsInputError(`${field}: "${host}" is not a DNS name (labels of letters, digits, "-" and "_", 1 to 63 long)`);
    }
  }
  return name;
}

/** The same key for a name read off the wire (no checks: an odd name simply matches no record). */
export function wireKey(name: string): string {
  return name.replace(/\.$/, "").toLowerCase();
}

export function ipv4(value: unknown, field: string): string {
  if (typeof value !== "string" || !net.isIPv4(value)) throw new TestDnsInputError(`${field}: "${String(value)}" is not an IPv4 address`);
  return value;
}

/** An IPv6 address in its canonical text form (RFC 5952), e.g. "2001:db8::1". */
export function ipv6(value: unknown, field: string): string {
  if (typeof value !== "string" || !net.isIPv6(value)) throw new TestDnsInputError(`${field}: "${String(value)}" is not an IPv6 address`);
  return canonicalIp(value)!;
}

/**
 * "2001:db8::1" → "2001:db8:0:0:0:0:0:1"; an embedded IPv4 tail ("::ffff:1.2.3.4") becomes two groups.
 * dns2 2.1.0 mis-encodes some compressed forms (IPv4 tails in particular), so the encoder gets this.
 */
export function expandIPv6(address: string): string {
  let text = address.toLowerCase();
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1]!.split(".").map(Number) as [number, number, number, number];
    text = text.slice(0, -v4[1]!.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const zeros = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill("0");
  return [...left, ...zeros, ...right].map((g) => g.replace(/^0+(?=.)/, "")).join(":");
}

/** Strings for the records' types, as the API and the answers name them. */
export type RecordType = "A" | "AAAA" | "TXT" | "CNAME" | "CAA";
