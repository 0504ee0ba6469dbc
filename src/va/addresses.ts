// Which addresses the VA may dial, and the address arithmetic the validators need. A validation is a
// request the CA makes on a stranger's behalf, so some targets are never dialled (SSRF): link-local
// (cloud metadata services live at 169.254.169.254), unspecified, multicast and broadcast. Private and
// loopback ranges are where a private CA's servers live, so they are allowed unless denyPrivate.
import { BlockList, isIP } from "node:net";

export interface AddressPolicy {
  /** Why the address must not be dialled, or undefined when it may be. */
  check(ip: string): string | undefined;
}

interface Range {
  cidr: string;
  why: string;
}

const ALWAYS_DENIED: Range[] = [
  { cidr: "0.0.0.0/8", why: "an unspecified (\"this network\") address, 0.0.0.0/8" },
  { cidr: "169.254.0.0/16", why: "a link-local address, 169.254.0.0/16" },
  { cidr: "224.0.0.0/4", why: "a multicast address, 224.0.0.0/4" },
  // 240/4 is reserved and holds the limited broadcast address 255.255.255.255
  { cidr: "240.0.0.0/4", why: "a reserved or broadcast address, 240.0.0.0/4" },
  { cidr: "::/128", why: "the unspecified address ::" },
  { cidr: "fe80::/10", why: "a link-local address, fe80::/10" },
  { cidr: "ff00::/8", why: "a multicast address, ff00::/8" },
];

const PRIVATE: Range[] = [
  { cidr: "10.0.0.0/8", why: "a private address, 10.0.0.0/8" },
  { cidr: "172.16.0.0/12", why: "a private address, 172.16.0.0/12" },
  { cidr: "192.168.0.0/16", why: "a private address, 192.168.0.0/16" },
  { cidr: "100.64.0.0/10", why: "a shared (carrier-grade NAT) address, 100.64.0.0/10" },
  { cidr: "127.0.0.0/8", why: "a loopback address, 127.0.0.0/8" },
  { cidr: "fc00::/7", why: "a unique local address, fc00::/7" },
  { cidr: "::1/128", why: "the loopback address ::1" },
];

/** Parses "a.b.c.d/n", "v6/n" or a bare address; throws on anything else (a configuration error). */
export function parseCidr(cidr: string): { address: string; prefix: number; family: "ipv4" | "ipv6" } {
  const [address = "", prefixText, extra] = cidr.trim().split("/");
  const version = isIP(address);
  if (version === 0 || extra !== undefined) throw new Error(`"${cidr}" is not an IP address or CIDR range`);
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!/^\d+$/.test(prefixText ?? String(max)) || prefix > max) {
    throw new Error(`"${cidr}" has an invalid prefix length (0 to ${max})`);
  }
  return { address, prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

function compile(ranges: Range[]): Array<{ list: BlockList; why: string }> {
  return ranges.map(({ cidr, why }) => {
    const { address, prefix, family } = parseCidr(cidr);
    const list = new BlockList();
    list.addSubnet(address, prefix, family);
    return { list, why };
  });
}

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) reaches the IPv4 host, so it is judged as one. */
export function unmapIPv4(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  const bytes = ipToBytes(ip);
  const mapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return mapped ? Array.from(bytes.subarray(12)).join(".") : ip;
}

/** Throws on an invalid entry in denyCidrs, so a bad configuration stops the process at start. */
export function createAddressPolicy(opts: { denyCidrs?: string[]; denyPrivate?: boolean } = {}): AddressPolicy {
  const rules = compile([
    ...ALWAYS_DENIED,
    ...(opts.denyPrivate ? PRIVATE : []),
    ...(opts.denyCidrs ?? []).map((cidr) => ({ cidr, why: `in ${cidr}, which this CA is configured not to connect to` })),
  ]);
  return {
    check(ip: string): string | undefined {
      const target = unmapIPv4(ip);
      const version = isIP(target);
      if (version === 0) return `"${ip}" is not an IP address`;
      const family = version === 4 ? "ipv4" : "ipv6";
      return rules.find((r) => r.list.check(target, family))?.why;
    },
  };
}

/** 4 or 16 network-order bytes; throws if the text is not an IP address. */
export function ipToBytes(ip: string): Uint8Array {
  const version = isIP(ip);
  if (version === 4) return Uint8Array.from(ip.split(".").map(Number));
  if (version !== 6) throw new Error(`"${ip}" is not an IP address`);
  let text = ip.replace(/%.*$/, ""); // drop a zone id
  const out: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = dotted[1]!.split(".").map(Number);
    text = text.slice(0, -dotted[1]!.length) + `${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const [head = "", rest] = text.split("::");
  const left = head ? head.split(":") : [];
  const right = rest ? rest.split(":") : [];
  const groups = rest === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  for (const g of groups) out.push(parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff);
  return Uint8Array.from(out);
}

/** RFC 8738 §6: the reverse-mapping name of an address, used as the TLS SNI for IP identifiers. */
export function reverseDnsName(ip: string): string {
  const bytes = ipToBytes(ip);
  if (bytes.length === 4) return `${Array.from(bytes).reverse().join(".")}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (const b of bytes) nibbles.push((b >> 4).toString(16), (b & 0xf).toString(16));
  return `${nibbles.reverse().join(".")}.ip6.arpa`;
}

/** Same address, whatever the spelling (compressed or not, upper or lower case). */
export function sameIp(a: string, b: string): boolean {
  if (isIP(a) === 0 || isIP(b) === 0) return false;
  return Buffer.from(ipToBytes(a)).equals(Buffer.from(ipToBytes(b)));
}
