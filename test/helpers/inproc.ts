// Anvil in this process (buildApp) over real HTTPS on loopback, with a real SQLite file (or a fresh
// PostgreSQL database: see db.ts), a test DNS server answering 127.0.0.1 and an
// http-01 responder: integration tests speak real HTTP and sign real JWS against it.
import { readFileSync } from "node:fs";
import { buildApp, type AnvilApp } from "../../src/app.js";
import { loadConfig } from "../../src/config/index.js";
import type { Clock } from "../../src/core/clock.js";
import { createLogger } from "../../src/log/index.js";
import { TestAcme, startHttp01Responder, type Http01Responder, type JwsAlg } from "./acme.js";
import { createTestDatabase } from "./db.js";
import { startTestDns, type TestDns } from "./dnsserver.js";
import { freePort, makeTempDir, removeTempDir } from "./tools.js";

export interface InProc {
  anvil: AnvilApp;
  directoryUrl: string;
  rootPem: string;
  dataDir: string;
  dns: TestDns;
  responder: Http01Responder;
  client(opts?: { alg?: JwsAlg }): Promise<TestAcme>;
  /** a registered client */
  account(opts?: { alg?: JwsAlg }): Promise<TestAcme>;
  restart(env?: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

/** validatorPollMs: how often the validator scans for due jobs (default 100 ms, to keep tests quick) */
export async function startInProc(env: Record<string, string> = {}, opts: { clock?: Clock; logLines?: string[]; validatorPollMs?: number } = {}): Promise<InProc> {
  const dataDir = await makeTempDir("it");
  const db = await createTestDatabase();
  const dns = await startTestDns({ defaultA: "127.0.0.1" });
  const responder = await startHttp01Responder();
  const port = await freePort();
  const baseEnv: Record<string, string> = {
    ANVIL_DATA_DIR: dataDir,
    ANVIL_LISTEN: `127.0.0.1:${port}`,
    ANVIL_HOSTNAMES: "localhost,127.0.0.1",
    ANVIL_HTTP01_PORT: String(responder.port),
    ANVIL_DNS_RESOLVER: dns.address,
    ANVIL_LOG_LEVEL: "silent",
    ...(db.url ? { DATABASE_URL: db.url } : {}),
  };
  const boot = async (extra: Record<string, string>) => {
    const config = loadConfig({ env: { ...baseEnv, ...env, ...extra } });
    const anvil = await buildApp(config, { logger: opts.logLines ? capture(opts.logLines) : createLogger({ level: "silent" }), validatorPollMs: opts.validatorPollMs ?? 100, clock: opts.clock });
    await anvil.listen();
    return anvil;
  };
  let anvil = await boot({});
  const rootPem = readFileSync(anvil.rootPath, "utf8");
  const self: InProc = {
    anvil,
    directoryUrl: anvil.directoryUrl,
    rootPem,
    dataDir,
    dns,
    responder,
    client: (opts = {}) => TestAcme.create(self.directoryUrl, { ca: rootPem, alg: opts.alg }),
    async account(opts = {}) {
      const c = await self.client(opts);
      const res = await c.newAccount({ termsOfServiceAgreed: true });
      if (res.status !== 201) throw new Error(`newAccount: ${res.status} ${res.text}`);
      return c;
    },
    async restart(extra = {}) {
      await anvil.close();
      anvil = await boot(extra);
      self.anvil = anvil;
    },
    async close() {
      await anvil.close();
      await responder.close();
      await dns.close();
      await db.drop();
      await removeTempDir(dataDir);
    },
  };
  return self;
}

export const ERR = (t: string) => `urn:ietf:params:acme:error:${t}`;

/** A clock the test moves forward. */
export function fakeClock(start = new Date()): Clock & { advance(seconds: number): void } {
  let now = start.getTime();
  return { now: () => new Date(now), advance: (s) => void (now += s * 1000) };
}

/** A debug-level logger whose JSON lines land in `lines`. */
function capture(lines: string[]) {
  return createLogger({ level: "debug", destination: { write: (line: string) => void lines.push(line) } });
}
