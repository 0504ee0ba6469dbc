// Turning what went wrong on the network into problem details a client author can act on. The
// wording follows Boulder's where Boulder has a good one, so existing client documentation applies.
import { isIPv6 } from "node:net";
import type { ProblemData } from "../core/types.js";
import { problemData } from "../errors/index.js";
import { DnsError } from "./dns.js";

const DNS_HINTS: Record<string, string> = {
  NXDOMAIN: "check that a DNS record exists for this domain",
  SERVFAIL: "the domain's nameservers may be malfunctioning",
  REFUSED: "the resolver refused the query",
  timeout: "the query timed out",
};

export function dnsProblem(err: unknown, name: string, rrtype: string): ProblemData {
  if (err instanceof DnsError) {
    const hint = DNS_HINTS[err.reason];
    return problemData(
      "dns",
      `DNS problem: ${err.reason} looking up ${err.rrtype} for ${err.qname}${hint ? ` - ${hint}` : ""}; ` +
        `resolver ${err.servers.join(", ") || "none"}`,
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return problemData("dns", `DNS problem: looking up ${rrtype} for ${name}: ${message}`);
}

/** "[::1]:80" or "127.0.0.1:80". */
export function hostPort(address: string, port: number): string {
  return isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}

export class ConnectTimeout extends Error {
  readonly code = "ETIMEDOUT";
  constructor() {
    super("Timeout during connect (likely firewall problem)");
    this.name = "ConnectTimeout";
  }
}

const CONNECT_ERRORS: Record<string, string> = {
  ECONNREFUSED: "Connection refused",
  ETIMEDOUT: "Timeout during connect (likely firewall problem)",
  ECONNRESET: "Connection reset by peer",
  EHOSTUNREACH: "No route to host",
  ENETUNREACH: "Network unreachable",
  EADDRNOTAVAIL: "Address not available",
  EPIPE: "Connection closed by peer",
};

export function describeNetError(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === "string" && CONNECT_ERRORS[code]) return CONNECT_ERRORS[code]!;
  return err instanceof Error ? err.message : String(err);
}
