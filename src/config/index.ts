// Configuration: a YAML/JSON file plus ANVIL_* environment variables, validated once at start.
// A bad value stops the process with a message naming the key and what was expected.
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { configSchema, type Config } from "./schema.js";

export type { Config, ConfigInput } from "./schema.js";
export { configSchema } from "./schema.js";

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;
type Tree = Record<string, unknown>;

/** Environment variables and the config key each one sets. */
export const ENV_VARS: Record<string, { key: string; parse?: (v: string) => unknown; description: string }> = {
  ANVIL_DATA_DIR: { key: "dataDir", description: "data folder: database, CA keys, TLS certificate (default ./data)" },
  ANVIL_LISTEN: { key: "listen", description: "host:port the ACME server listens on (default 0.0.0.0:14000)" },
  ANVIL_BASE_URL: { key: "baseUrl", description: "external base URL used in every link" },
  ANVIL_HOSTNAMES: { key: "hostnames", parse: list, description: "comma-separated names/IPs on the server's own TLS certificate" },
  ANVIL_TLS: { key: "tls.enabled", parse: bool, description: "false to serve plain HTTP behind a TLS-terminating proxy" },
  DATABASE_URL: { key: "database.url", description: "file:<path> (SQLite) or postgres://… (PostgreSQL)" },
  ANVIL_MIGRATE: { key: "database.migrateOnStart", parse: bool, description: "apply migrations at start (default true)" },
  ANVIL_HTTP01_PORT: { key: "validation.http01Port", description: "port http-01 validation connects to (default 80)" },
  ANVIL_TLSALPN01_PORT: { key: "validation.tlsAlpn01Port", description: "port tls-alpn-01 validation connects to (default 443)" },
  ANVIL_ANSWER_WITHIN_MS: { key: "validation.answerWithinMs", description: "ms a challenge POST waits for its validation's outcome (default 1000; 0 answers processing at once)" },
  ANVIL_DNS_RESOLVER: { key: "validation.dnsResolver", description: "host:port of the DNS server used for validation" },
  ANVIL_CA_PASSPHRASE: { key: "pki.passphrase", description: "passphrase of encrypted CA private keys" },
  ANVIL_TOS_URL: { key: "acme.termsOfService", description: "terms of service URL in the directory" },
  ANVIL_CERT_LIFETIME: { key: "acme.certificateLifetime", parse: durationOrNumber, description: "default certificate lifetime, e.g. 90d" },
  ANVIL_TESTDNS: { key: "testdns.enabled", parse: bool, description: "true to run the built-in test DNS server and its API (default false)" },
  ANVIL_TESTDNS_LISTEN: { key: "testdns.listen", description: "host:port of the test DNS server, UDP and TCP (default 127.0.0.1:8053)" },
  ANVIL_TESTDNS_API: { key: "testdns.apiListen", description: "host:port of the test DNS management API (default 127.0.0.1:8055)" },
  ANVIL_TESTDNS_DEFAULT_IPV4: { key: "testdns.defaultIPv4", description: "address the test DNS server answers for any name (default 127.0.0.1)" },
  ANVIL_ADMIN_LISTEN: { key: "admin.listen", description: "host:port of the management listener with Prometheus /metrics (default off)" },
  ANVIL_LOG_LEVEL: { key: "log.level", description: "pino log level (default info)" },
};

function list(v: string): string[] {
  return v.split(",").map((s) => s.trim()).filter(Boolean);
}
function bool(v: string): unknown {
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  return v; // left for the schema to reject with the key's name
}
function durationOrNumber(v: string): unknown {
  return /^\d+$/.test(v) ? Number(v) : v;
}

function setPath(tree: Tree, dotted: string, value: unknown): void {
  const keys = dotted.split(".");
  let node = tree;
  for (const k of keys.slice(0, -1)) {
    if (typeof node[k] !== "object" || node[k] === null) node[k] = {};
    node = node[k] as Tree;
  }
  node[keys[keys.length - 1]!] = value;
}

export function readConfigFile(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  try {
    const parsed = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
    if (parsed === null || parsed === undefined) return {};
    if (typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("the top level must be a mapping");
    return parsed as Tree;
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid ${file.endsWith(".json") ? "JSON" : "YAML"}: ${(err as Error).message}`);
  }
}

/** Validates a raw tree (file contents with env overrides applied) into a Config. */
export function parseConfig(raw: Tree): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => {
      const key = i.path.join(".") || "(top level)";
      const envName = Object.entries(ENV_VARS).find(([, v]) => v.key === key)?.[0];
      return `  ${key}${envName ? ` (${envName})` : ""}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  return result.data;
}

/** File (ANVIL_CONFIG or the given path) + environment → validated Config. */
export function loadConfig(opts: { file?: string; env?: Env; overrides?: Tree } = {}): Config {
  const env = opts.env ?? process.env;
  const file = opts.file ?? env.ANVIL_CONFIG;
  const raw: Tree = file ? readConfigFile(file) : {};
  for (const [name, spec] of Object.entries(ENV_VARS)) {
    const value = env[name];
    if (value !== undefined && value !== "") setPath(raw, spec.key, spec.parse ? spec.parse(value) : value);
  }
  for (const [k, v] of Object.entries(opts.overrides ?? {})) setPath(raw, k, v);
  return parseConfig(raw);
}

/** Values derived from the config that several components need. */
export function derived(config: Config) {
  const [host, portText] = splitHostPort(config.listen);
  const port = Number(portText);
  const scheme = config.tls.enabled ? "https" : "http";
  const first = config.hostnames[0]!;
  const hostForUrl = first.includes(":") ? `[${first}]` : first;
  const baseUrl = (config.baseUrl ?? `${scheme}://${hostForUrl}:${port}`).replace(/\/+$/, "");
  const dataDir = path.resolve(config.dataDir);
  return {
    host,
    port,
    baseUrl,
    dataDir,
    caDir: path.join(dataDir, "ca"),
    tlsDir: path.join(dataDir, "tls"),
    databaseUrl: config.database.url ?? `file:${path.join(dataDir, "anvil.db")}`,
  };
}

export function splitHostPort(hp: string): [string, string] {
  const i = hp.lastIndexOf(":");
  const host = hp.slice(0, i).replace(/^\[(.*)\]$/, "$1");
  return [host, hp.slice(i + 1)];
}
