// Anvil's built-in test DNS server, for staging: a DNS server (UDP and TCP) that answers A/AAAA for
// any name with a default address, plus records set through an HTTP management API speaking
// pebble-challtestsrv's, lego httpreq's and acme-dns's dialects. Off by default (config `testdns`).
import { splitHostPort } from "../config/index.js";
import type { Logger } from "../log/index.js";
import { createAcmeDns, type AcmeDns } from "./acmedns.js";
import { createApiHandler, listenApi } from "./api.js";
import { listenDns } from "./server.js";
import { typeName } from "./wire.js";
import { createZone, type Zone, type ZoneLimits } from "./zone.js";

export { createZone, DEFAULT_LIMITS, type Answer, type CaaPolicy, type NameRecords, type Resolution, type Zone, type ZoneLimits } from "./zone.js";
export { createAcmeDns, DEFAULT_ACME_DNS_DOMAIN, type AcmeDns, type Registration } from "./acmedns.js";
export { createApiHandler, listenApi, type ApiDeps, type ApiListener } from "./api.js";
export { listenDns, type DnsListener, type DnsListenerOptions } from "./server.js";
export { TestDnsInputError } from "./names.js";

export interface TestDnsConfig {
  /** host:port of the DNS server (UDP and TCP); port 0 picks a free one */
  listen: string;
  /** host:port of the management API */
  apiListen: string;
  /** answer for A questions about names without A records; "" for none */
  defaultIPv4: string;
  /** the same for AAAA; "" for none */
  defaultIPv6: string;
}

export interface TestDnsDeps {
  config: TestDnsConfig;
  log?: Logger;
  limits?: Partial<ZoneLimits>;
  /** the zone acme-dns registrations live in (default acme-dns.anvil.internal) */
  acmeDnsDomain?: string;
}

export interface TestDnsService {
  zone: Zone;
  acmeDns: AcmeDns;
  /** "host:port" the DNS server answers on, with the port actually bound */
  dnsAddress: string;
  /** base URL of the management API, e.g. http://127.0.0.1:8055 */
  apiUrl: string;
  close(): Promise<void>;
}

export async function startTestDns(deps: TestDnsDeps): Promise<TestDnsService> {
  const { config, log } = deps;
  const zone = createZone({
    defaultIPv4: config.defaultIPv4,
    defaultIPv6: config.defaultIPv6,
    limits: deps.limits,
    onEvict: (host) => log?.warn({ host }, "test DNS: dropped the records of the name written longest ago, to stay within the memory limit"),
  });
  const acmeDns = createAcmeDns({ zone, domain: deps.acmeDnsDomain });

  const [dnsHost, dnsPort] = splitHostPort(loopbackAddress(config.listen, false));
  const dns = await listenDns({
    host: dnsHost,
    port: Number(dnsPort),
    resolve: (q) => zone.answer(q.name, typeName(q.type)),
    onQuery: log ? (q) => log.debug(q, "test DNS query") : undefined,
  });
  const [apiHost, apiPort] = splitHostPort(config.apiListen);
  let api;
  try {
    api = await listenApi(createApiHandler({ zone, acmeDns, log }), apiHost, Number(apiPort));
  } catch (err) {
    await dns.close();
    throw err;
  }

  const dnsAddress = hostPort(dnsHost, dns.port);
  const apiUrl = `http://${hostPort(apiHost, api.port)}`;
  if (!isLoopback(apiHost)) {
    log?.warn({ api: apiUrl }, "the test DNS API has no authentication and listens beyond loopback: whoever reaches it can pass dns-01 for any name");
  }
  log?.info({ dns: dnsAddress, api: apiUrl, ...zone.defaults, acmeDnsDomain: acmeDns.domain }, "test DNS server listening");
  return {
    zone,
    acmeDns,
    dnsAddress,
    apiUrl,
    async close() {
      await Promise.all([dns.close(), api.close()]);
    },
  };
}

/**
 * Where a local client reaches a server listening on `listen`: a wildcard address ("0.0.0.0:8053",
 * "[::]:8053") becomes the loopback address of the same family, and "localhost" 127.0.0.1. Used as
 * the validation resolver; with `wildcards` false only "localhost" is replaced (the address to bind).
 */
export function loopbackAddress(listen: string, wildcards = true): string {
  const [host, port] = splitHostPort(listen);
  // "localhost" may mean ::1 to TCP and 127.0.0.1 to UDP; one address keeps both on the same socket pair
  if (host === "localhost") return `127.0.0.1:${port}`;
  if (wildcards && (host === "0.0.0.0" || host === "")) return `127.0.0.1:${port}`;
  if (wildcards && host === "::") return `[::1]:${port}`;
  return hostPort(host, Number(port));
}

function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}
