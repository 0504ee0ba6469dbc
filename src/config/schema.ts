// The configuration schema: one section per component, unknown keys rejected, safe defaults for a first run.
import { isIP } from "node:net";
import { z } from "zod";

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** A duration in seconds: a number, or a string such as "90d", "12h", "30m", "45s". */
export const duration = z.union([z.number().int().positive(), z.string().regex(/^\d+[smhd]$/, 'a duration like "90d", "12h", "30m" or "45s"')])
  .transform((v) => (typeof v === "number" ? v : Number(v.slice(0, -1)) * UNITS[v.slice(-1)]!));

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, "host:port");
/** host:port to listen on: an IP literal or localhost, and a real port (clients must be told where) */
const localHostPort = hostPort.refine((v) => {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(v);
  const host = m?.[1] ?? m?.[2] ?? "";
  return (isIP(host) !== 0 || host === "localhost") && Number(m?.[3]) >= 1 && Number(m?.[3]) <= 65535;
}, "ip:port or localhost:port, with a port from 1 to 65535");
const port = z.coerce.number().int().min(1).max(65535);
const keySpec = z.enum(["ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096"]);

export const configSchema = z.strictObject({
  dataDir: z.string().min(1).default("./data"),
  listen: hostPort.default("0.0.0.0:14000"),
  /** External base URL used in every link; default https://<first hostname>:<listen port>. */
  baseUrl: z.url({ protocol: /^https?$/ }).optional(),
  hostnames: z.array(z.string().min(1)).min(1).default(["localhost"]),
  tls: z.strictObject({
    /** false: plain HTTP, for running behind a TLS-terminating proxy (set baseUrl to the proxy's URL) */
    enabled: z.boolean().default(true),
    /** renew the server's own certificate when less than this remains */
    renewBefore: duration.default(7 * 86400),
    certificateLifetime: duration.default(30 * 86400),
  }).prefault({}),
  database: z.strictObject({
    /** file:<path> (SQLite) or postgres://…; default file:<dataDir>/anvil.db */
    url: z.string().min(1).optional(),
    migrateOnStart: z.boolean().default(true),
  }).prefault({}),
  pki: z.strictObject({
    rootKey: keySpec.default("ecdsa-p384"),
    intermediateKey: keySpec.default("ecdsa-p256"),
    rootSubject: z.string().default("CN=Anvil Root CA,O=Anvil"),
    intermediateSubject: z.string().default("CN=Anvil Intermediate CA,O=Anvil"),
    rootLifetime: duration.default(3650 * 86400),
    intermediateLifetime: duration.default(1825 * 86400),
    /** passphrase of the CA private keys, if they are encrypted (prefer ANVIL_CA_PASSPHRASE) */
    passphrase: z.string().optional(),
  }).prefault({}),
  acme: z.strictObject({
    termsOfService: z.url().optional(),
    website: z.url().optional(),
    caaIdentities: z.array(z.string()).default([]),
    externalAccountRequired: z.boolean().default(false),
    orderLifetime: duration.default(7 * 86400),
    pendingAuthzLifetime: duration.default(7 * 86400),
    validAuthzLifetime: duration.default(30 * 86400),
    certificateLifetime: duration.default(90 * 86400),
    maxCertificateLifetime: duration.default(398 * 86400),
    /** URL schemes accepted in account contacts (RFC 8555 §7.3) */
    contactSchemes: z.array(z.string().regex(/^[a-z][a-z0-9+.-]*$/)).default(["mailto"]),
    maxContacts: z.number().int().min(0).default(10),
    nonceLifetime: duration.default(3600),
    ordersPerPage: z.number().int().min(1).max(1000).default(50),
    maxIdentifiersPerOrder: z.number().int().min(1).default(100),
    /** seconds a client is told to wait before polling a pending/processing object again */
    retryAfter: z.number().int().min(0).default(1),
  }).prefault({}),
  validation: z.strictObject({
    http01Port: port.default(80),
    tlsAlpn01Port: port.default(443),
    /** host:port of the DNS server used for validation; default the system's resolvers */
    dnsResolver: hostPort.optional(),
    timeout: duration.default(10),
    /**
     * validations at once per instance. They mostly wait on the network, so the bound is about sockets, not
     * CPU: with 8, a burst of answered challenges queued for a slot (and was answered "processing")
     */
    concurrency: z.number().int().min(1).max(256).default(64),
    /** attempts for transient failures (connection, dns timeouts) before the challenge is invalid */
    maxAttempts: z.number().int().min(1).max(10).default(1),
    /**
     * milliseconds a challenge POST waits for the validation it starts on this instance, so that the
     * answer carries the outcome (valid or invalid) when it comes that soon; 0 answers "processing" at once
     */
    answerWithinMs: z.coerce.number().int().min(0).max(30_000).default(1000),
    denyCidrs: z.array(z.string()).default([]),
    denyPrivate: z.boolean().default(false),
  }).prefault({}),
  policy: z.strictObject({
    /** if not empty, only names equal to or under one of these suffixes are accepted */
    allowedDomains: z.array(z.string()).default([]),
    deniedDomains: z.array(z.string()).default([]),
    allowIpIdentifiers: z.boolean().default(true),
    allowWildcards: z.boolean().default(true),
  }).prefault({}),
  /** built-in DNS server with an HTTP API (challtestsrv, lego httpreq, acme-dns), for staging dns-01 */
  testdns: z.strictObject({
    enabled: z.boolean().default(false),
    /** DNS, UDP and TCP; when enabled and validation.dnsResolver is unset, validation asks this server */
    listen: localHostPort.default("127.0.0.1:8053"),
    /** management HTTP API; it has no authentication, keep it on loopback or a private network */
    apiListen: localHostPort.default("127.0.0.1:8055"),
    /** answer to A questions for names without A records; "" for none */
    defaultIPv4: z.union([z.literal(""), z.ipv4()]).default("127.0.0.1"),
    /** answer to AAAA questions for names without AAAA records; "" for none */
    defaultIPv6: z.union([z.literal(""), z.ipv6()]).default(""),
  }).prefault({}),
  rateLimits: z.strictObject({
    /** new orders per account (counted in the database, so across all instances); limit 0 = off */
    newOrdersPerAccount: z.strictObject({ limit: z.number().int().min(0).default(1500), window: duration.default(3 * 3600) }).prefault({}),
    /** new accounts per client IP address (counted per instance); limit 0 = off */
    newAccountsPerIp: z.strictObject({ limit: z.number().int().min(0).default(0), window: duration.default(3 * 3600) }).prefault({}),
  }).prefault({}),
  admin: z.strictObject({
    /** host:port of the management listener (Prometheus /metrics, /healthz, /readyz); empty = off */
    listen: z.union([z.literal(""), hostPort]).default(""),
  }).prefault({}),
  log: z.strictObject({
    level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  }).prefault({}),
});

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;
