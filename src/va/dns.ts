// The VA's resolver: asks the configured server (or the system's), follows CNAME chains, and turns
// every way a lookup can fail into a DnsError that names the name, the record type and the server,
// because that is what an operator needs to see in a failed challenge.
import dns from "node:dns";
import net from "node:net";
import { canonicalIp } from "../core/index.js";
import type { Resolver } from "./types.js";
import { type DnsServer, DnsTransportError, exchange, parseServer, type QueryType } from "./dnsquery.js";
import { DNS_TYPE, type DnsRecord, type DnsReply } from "./dnsreply.js";

const MAX_CNAME_HOPS = 8;
const RCODES: Record<number, string> = { 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED" };

export class DnsError extends Error {
  constructor(
    readonly qname: string,
    readonly rrtype: string,
    /** "NXDOMAIN", "SERVFAIL", "REFUSED", "timeout", "network error", "CNAME loop", ... */
    readonly reason: string,
    readonly servers: string[],
  ) {
    super(`${reason} looking up ${rrtype} for ${qname} (resolver ${servers.join(", ") || "none"})`);
    this.name = "DnsError";
  }
}

export interface ResolverOptions {
  /** "host:port"; undefined = the system's resolvers (node:dns getServers) */
  server?: string;
  /** per query, per server; default 5000 */
  timeoutMs?: number;
}

export function createResolver(opts: ResolverOptions = {}): Resolver {
  const servers = opts.server ? [parseServer(opts.server)] : systemServers();
  const timeoutMs = opts.timeoutMs ?? 5000;
  const labels = servers.map((s) => s.label);

  async function ask(name: string, type: QueryType): Promise<DnsReply> {
    let last: DnsError | undefined;
    // the next server is tried when one gives no usable answer; NXDOMAIN is an answer
    for (const server of servers) {
      try {
        const reply = await exchange(server, name, type, timeoutMs);
        const rcode = reply.header.rcode;
        if (rcode === 0 || rcode === 3) return reply;
        last = new DnsError(name, type, RCODES[rcode] ?? `rcode ${rcode}`, [server.label]);
      } catch (err) {
        const reason = err instanceof DnsTransportError ? err.reason : "network error";
        last = new DnsError(name, type, reason, [server.label]);
      }
    }
    throw last ?? new DnsError(name, type, "no resolver configured", labels);
  }

  /** Records of `type` owned by the end of the CNAME chain that starts at `name`. */
  async function lookup(name: string, type: QueryType): Promise<DnsRecord[]> {
    const wanted = DNS_TYPE[type];
    const seen = new Set<string>();
    let current = normalize(name);
    let reply = await askChecked(current);
    for (let hops = 0; ; hops++) {
      const direct = reply.answers.filter((r) => r.type === wanted && normalize(r.name) === current);
      if (direct.length > 0) return direct;
      const cname = reply.answers.find((r) => r.type === DNS_TYPE.CNAME && normalize(r.name) === current);
      if (!cname?.domain) return []; // NOERROR with no data
      seen.add(current);
      current = normalize(cname.domain);
      if (seen.has(current)) throw new DnsError(name, type, "CNAME loop", labels);
      if (hops + 1 > MAX_CNAME_HOPS) throw new DnsError(name, type, `CNAME chain longer than ${MAX_CNAME_HOPS}`, labels);
      // a recursive resolver usually sends the whole chain; ask again only when it stops short
      const inReply = reply.answers.some((r) => normalize(r.name) === current);
      if (!inReply) reply = await askChecked(current);
    }

    async function askChecked(qname: string): Promise<DnsReply> {
      const r = await ask(qname, type);
      if (r.header.rcode === 3) {
        const via = qname === normalize(name) ? "" : ` (CNAME target of ${name})`;
        throw new DnsError(qname + via, type, "NXDOMAIN", labels);
      }
      return r;
    }
  }

  async function addresses(name: string, type: "A" | "AAAA"): Promise<string[]> {
    const family = type === "A" ? 4 : 6;
    const out: string[] = [];
    for (const r of await lookup(name, type)) {
      const ip = r.address === undefined ? undefined : canonicalIp(r.address);
      if (ip && net.isIP(ip) === family && !out.includes(ip)) out.push(ip);
    }
    return out;
  }

  return {
    servers: labels,
    async lookupHost(name: string) {
      const [v4, v6] = await Promise.allSettled([addresses(name, "A"), addresses(name, "AAAA")]);
      if (v4.status === "fulfilled" && v6.status === "fulfilled") return { v4: v4.value, v6: v6.value };
      // one family failing is tolerable when the other one answered with addresses
      if (v4.status === "fulfilled" && v4.value.length > 0) return { v4: v4.value, v6: [] };
      if (v6.status === "fulfilled" && v6.value.length > 0) return { v4: [], v6: v6.value };
      throw v4.status === "rejected" ? v4.reason : (v6 as PromiseRejectedResult).reason;
    },
    async lookupTxt(name: string) {
      return (await lookup(name, "TXT")).map((r) => r.data ?? "");
    },
  };
}

function normalize(name: string): string {
  return name.replace(/\.$/, "").toLowerCase();
}

function systemServers(): DnsServer[] {
  const out: DnsServer[] = [];
  for (const entry of dns.getServers()) {
    try {
      out.push(parseServer(entry));
    } catch {
      // getServers only returns addresses; skip anything we cannot parse rather than fail at start
    }
  }
  return out;
}
