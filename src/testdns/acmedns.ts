// acme-dns's API (github.com/joohoi/acme-dns): POST /register hands out a subdomain of our acme-dns
// zone with a user name and key; POST /update with X-Api-User / X-Api-Key sets that subdomain's TXT,
// keeping the last two values as acme-dns does (a wildcard and its base name validate at the same
// _acme-challenge name). Clients CNAME _acme-challenge.<their name> to the subdomain's full name.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import net from "node:net";
import { normalizeHost } from "./names.js";
import type { Zone } from "./zone.js";

export const DEFAULT_ACME_DNS_DOMAIN = "acme-dns.anvil.internal";

export interface AcmeDnsOptions {
  zone: Zone;
  /** the zone holding the subdomains; default acme-dns.anvil.internal */
  domain?: string;
  /** registrations kept; the oldest is dropped beyond it */
  maxAccounts?: number;
}

export interface Registration {
  username: string;
  password: string;
  fulldomain: string;
  subdomain: string;
  allowfrom: string[];
}

export interface ApiReply {
  status: number;
  body: Record<string, unknown>;
}

export interface AcmeDns {
  readonly domain: string;
  register(body: Record<string, unknown>): ApiReply;
  update(auth: { user?: string; key?: string }, body: Record<string, unknown>, remoteAddress: string | undefined): ApiReply;
}

interface Account {
  keyHash: Buffer;
  subdomain: string;
  allowfrom: string[];
}

// acme-dns accepts exactly the 43 characters of a base64url SHA-256 digest (RFC 8555 §8.4)
const TXT_VALUE = /^[A-Za-z0-9_-]{43}$/;

export function createAcmeDns(opts: AcmeDnsOptions): AcmeDns {
  const domain = normalizeHost(opts.domain ?? DEFAULT_ACME_DNS_DOMAIN, "acme-dns domain");
  const maxAccounts = opts.maxAccounts ?? 1000;
  const accounts = new Map<string, Account>();
  const forbidden: ApiReply = { status: 401, body: { error: "forbidden" } };

  return {
    domain,
    register(body) {
      const allowfrom = validCidrs(body.allowfrom);
      const username = randomUUID();
      const password = randomBytes(30).toString("base64url"); // 40 characters, like acme-dns
      const subdomain = randomUUID();
      accounts.set(username, { keyHash: hash(password), subdomain, allowfrom });
      for (const [name, old] of accounts) {
        if (accounts.size <= maxAccounts) break;
        accounts.delete(name);
        opts.zone.clearTxt(`${old.subdomain}.${domain}`);
      }
      const reg: Registration = { username, password, fulldomain: `${subdomain}.${domain}`, subdomain, allowfrom };
      return { status: 201, body: { ...reg } };
    },
    update(auth, body, remoteAddress) {
      const account = auth.user ? accounts.get(auth.user) : undefined;
      // the same 401 for an unknown user, a wrong key, another user's subdomain or a refused address,
      // as acme-dns answers: the caller learns nothing about which part was wrong
      if (!account || !auth.key || !timingSafeEqual(hash(auth.key), account.keyHash)) return forbidden;
      if (body.subdomain !== account.subdomain) return forbidden;
      if (account.allowfrom.length > 0 && !allowed(account.allowfrom, remoteAddress)) return forbidden;
      if (typeof body.txt !== "string" || !TXT_VALUE.test(body.txt)) return { status: 400, body: { error: "bad_txt" } };
      opts.zone.addTxt(`${account.subdomain}.${domain}`, body.txt, { keep: 2 });
      return { status: 200, body: { txt: body.txt } };
    },
  };
}

function hash(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** acme-dns keeps the valid entries of allowfrom and drops the rest. */
function validCidrs(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.filter((v): v is string => typeof v === "string" && parseCidr(v) !== undefined);
}

function parseCidr(text: string): { address: string; prefix: number; family: "ipv4" | "ipv6" } | undefined {
  const [address, bits, extra] = text.split("/");
  if (extra !== undefined || !address || !bits || !/^\d{1,3}$/.test(bits)) return undefined;
  const family = net.isIPv4(address) ? "ipv4" : net.isIPv6(address) ? "ipv6" : undefined;
  const prefix = Number(bits);
  if (!family || prefix > (family === "ipv4" ? 32 : 128)) return undefined;
  return { address, prefix, family };
}

function allowed(cidrs: string[], remoteAddress: string | undefined): boolean {
  if (!remoteAddress) return false;
  const ip = remoteAddress.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, "");
  const list = new net.BlockList();
  for (const c of cidrs) {
    const cidr = parseCidr(c)!;
    list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  return list.check(ip, net.isIPv6(ip) ? "ipv6" : "ipv4");
}
