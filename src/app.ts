// The composition root: the only place that constructs implementations and wires them together.
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import Fastify, { LogController, type FastifyInstance } from "fastify";
import { createMetrics, startAdminServer } from "./admin/index.js";
import { createCA } from "./ca/index.js";
import { derived, splitHostPort, type Config } from "./config/index.js";
import { systemClock, type Clock } from "./core/clock.js";
import { createIdleTrim, IDLE_MS } from "./core/idle.js";
import { initPki, loadIssuer, type Issuer, type KeySpec } from "./issuance/index.js";
import { createLogger, type Logger } from "./log/index.js";
import { createNonceService } from "./nonce/index.js";
import { createPolicy } from "./policy/index.js";
import { loopbackAddress, startTestDns, type TestDnsService } from "./testdns/index.js";
import { createRA, type RA } from "./ra/index.js";
import { createDb, createStorage, dbKind, migrate, type Storage } from "./sa/index.js";
import { ensureServerTls } from "./tls.js";
import { createVA, createVAInWorker, type ValidationAuthority } from "./va/index.js";
import type { Resolver } from "./va/types.js";
import { createClientErrorHandler, createLinker, wfePlugin } from "./wfe/index.js";

export function keySpec(name: string): KeySpec {
  const [type, size] = name.split("-") as [string, string];
  if (type === "ecdsa") return { type: "ecdsa", curve: size === "p384" ? "P-384" : "P-256" };
  return { type: "rsa", bits: Number(size) as 2048 | 3072 | 4096 };
}

/** Creates the root and intermediate on first start (or reuses them) and loads the issuer. */
export async function preparePki(config: Config): Promise<{ issuer: Issuer; created: boolean; rootPath: string }> {
  const { caDir } = derived(config);
  const { pki } = config;
  const { created, paths } = await initPki({
    dir: caDir,
    rootKey: keySpec(pki.rootKey),
    intermediateKey: keySpec(pki.intermediateKey),
    rootSubject: pki.rootSubject,
    intermediateSubject: pki.intermediateSubject,
    rootDays: Math.round(pki.rootLifetime / 86400),
    intermediateDays: Math.round(pki.intermediateLifetime / 86400),
    passphrase: pki.passphrase,
  });
  const issuer = await loadIssuer({ dir: caDir, passphrase: pki.passphrase, worker: true });
  return { issuer, created, rootPath: paths.rootCert };
}

export interface AnvilApp {
  app: FastifyInstance;
  ra: RA;
  sa: Storage;
  issuer: Issuer;
  log: Logger;
  directoryUrl: string;
  rootPath: string;
  listen(): Promise<string>;
  close(): Promise<void>;
}

export interface BuildOptions {
  logger?: Logger;
  clock?: Clock;
  resolver?: Resolver;
  validatorPollMs?: number;
}

export async function buildApp(config: Config, opts: BuildOptions = {}): Promise<AnvilApp> {
  const d = derived(config);
  const clock = opts.clock ?? systemClock;
  const log = opts.logger ?? createLogger({ level: config.log.level });
  mkdirSync(d.dataDir, { recursive: true });

  if (config.database.migrateOnStart) {
    const applied = await migrate(d.databaseUrl);
    if (applied.length) log.info({ applied }, "database migrations applied");
  }
  const db = await createDb(d.databaseUrl, { warn: (obj, msg) => log.warn(obj, msg) });
  const sa = createStorage(db, () => clock.now(), { exclusive: dbKind(d.databaseUrl) === "sqlite" });
  const { issuer, created, rootPath } = await preparePki(config);
  if (created) log.info({ rootPath }, "created a new root and intermediate CA");

  const nonceKey = await sa.getOrCreateSetting("nonce-key", () => randomBytes(32).toString("base64"));
  const nonces = createNonceService({
    key: Buffer.from(nonceKey, "base64"),
    store: { markRedeemed: (n, e) => sa.markNonceRedeemed(n, e) },
    lifetimeSeconds: config.acme.nonceLifetime,
    now: () => clock.now().getTime(),
    // SQLite: this process is the only instance (one process per file), so redemption stays in memory
    ...(dbKind(d.databaseUrl) === "sqlite" ? { local: {} } : {}),
  });

  const v = config.validation;
  // with the test DNS server on and no resolver configured, validation sees what clients publish there
  const dnsServer = v.dnsResolver ?? (config.testdns.enabled ? loopbackAddress(config.testdns.listen) : undefined);
  const vaConfig = { httpPort: v.http01Port, tlsAlpnPort: v.tlsAlpn01Port, timeoutMs: v.timeout * 1000, denyCidrs: v.denyCidrs, denyPrivate: v.denyPrivate };
  // validations run in a worker thread (src/va/remote.ts), unless a caller hands in its own resolver object
  const va: ValidationAuthority & { close?(): Promise<void> } = opts.resolver
    ? createVA({ resolver: opts.resolver, config: vaConfig, log })
    : createVAInWorker({ resolver: { server: dnsServer, timeoutMs: v.timeout * 1000 }, config: vaConfig, log });
  const { metrics, registry } = createMetrics({ queueDepth: () => sa.countChallengeJobs() });
  const a = config.acme;
  const ca = createCA({ issuer, clock, config: { certificateLifetime: a.certificateLifetime, maxCertificateLifetime: a.maxCertificateLifetime } });
  const ra = createRA(
    {
      sa, va, ca, clock, log, metrics,
      policy: createPolicy(config.policy),
      config: {
        orderLifetime: a.orderLifetime,
        pendingAuthzLifetime: a.pendingAuthzLifetime,
        validAuthzLifetime: a.validAuthzLifetime,
        maxCertificateLifetime: a.maxCertificateLifetime,
        contactSchemes: a.contactSchemes,
        maxContacts: a.maxContacts,
        maxIdentifiersPerOrder: a.maxIdentifiersPerOrder,
        termsOfService: a.termsOfService,
        validation: { concurrency: v.concurrency, timeout: v.timeout, maxAttempts: v.maxAttempts, answerWithinMs: v.answerWithinMs },
        rateLimits: config.rateLimits,
      },
    },
    { validatorPollMs: opts.validatorPollMs },
  );

  const tlsDir = d.tlsDir;
  const tlsOptions = async () =>
    ensureServerTls({ dir: tlsDir, issuer, hostnames: config.hostnames, lifetimeSeconds: config.tls.certificateLifetime, renewBefore: config.tls.renewBefore, now: clock.now() });
  const tls = config.tls.enabled ? await tlsOptions() : undefined;

  const linker = createLinker(d.baseUrl);
  const app = Fastify({
    loggerInstance: log,
    // bytes Node's HTTP parser refuses get an RFC 8555 problem document too
    clientErrorHandler: createClientErrorHandler({ issueNonce: () => nonces.issue(), directoryUrl: linker.directory() }),
    logController: new LogController({ disableRequestLogging: true }), // our onResponse hook logs one line
    bodyLimit: 64 * 1024,
    ...(tls ? { https: { cert: tls.cert, key: tls.key } } : {}),
  }) as unknown as FastifyInstance;

  // after a burst, the request thread's heap goes back to the system once requests stop for a while
  const idle = createIdleTrim(IDLE_MS);
  // one line per request, and its metrics
  app.addHook("onResponse", async (req, reply) => {
    idle.touch();
    const route = req.routeOptions.url ?? "unmatched";
    req.log.info({ method: req.method, url: req.url, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime), account: req.accountId }, "request");
    metrics.request(route, req.method, reply.statusCode, reply.elapsedTime / 1000);
  });
  // ready: the database answers (the CA keys were loaded before the listener exists)
  const ready = () => sa.ping().then(() => true, () => false);
  app.get("/healthz", async (_req, reply) => reply.send({ status: "ok" }));
  app.get("/readyz", async (_req, reply) =>
    (await ready()) ? reply.send({ status: "ready" }) : reply.code(503).header("Retry-After", "5").send({ status: "database unreachable" }));

  await app.register(wfePlugin, {
    ra,
    nonces,
    linker,
    directoryMeta: { termsOfService: a.termsOfService, website: a.website, caaIdentities: a.caaIdentities, externalAccountRequired: false },
    pki: { rootPems: [issuer.rootPem], intermediatePems: [issuer.intermediatePem], chains: (der) => issuer.chainPems(der) },
    retryAfter: a.retryAfter,
    ordersPerPage: a.ordersPerPage,
    bodyLimit: 64 * 1024,
    metrics,
  });

  let renewTimer: NodeJS.Timeout | undefined;
  let pruneTimer: NodeJS.Timeout | undefined;
  let statsTimer: NodeJS.Timeout | undefined;
  let testDns: TestDnsService | undefined;
  let admin: FastifyInstance | undefined;

  return {
    app, ra, sa, issuer, log, rootPath,
    directoryUrl: linker.directory(),
    async listen() {
      if (config.testdns.enabled) testDns = await startTestDns({ config: config.testdns, log: log.child({ component: "testdns" }) });
      const address = await app.listen({ host: d.host, port: d.port }).catch(async (err: unknown) => {
        await testDns?.close();
        throw err;
      });
      if (config.admin.listen) {
        const [host, port] = splitHostPort(config.admin.listen);
        admin = await startAdminServer({ host, port: Number(port), registry, ready });
      }
      ra.startBackground();
      pruneTimer = setInterval(() => void sa.pruneNonces(clock.now()).catch(() => undefined), 10 * 60_000);
      pruneTimer.unref();
      // PostgreSQL without autovacuum: planner statistics kept fresh here (sa.refreshStatistics says why)
      if (!(await sa.autovacuumOn().catch(() => true))) {
        log.warn("autovacuum is off on this PostgreSQL server: Anvil runs ANALYZE on its tables as they grow; dead rows still need VACUUM");
      }
      const refresh = () =>
        void sa.refreshStatistics().then(
          (tables) => tables.length && log.debug({ tables }, "planner statistics refreshed"),
          (err: unknown) => statsTimer && log.warn({ err }, "refreshing planner statistics failed"),
        );
      refresh();
      // every 5 s: a young database grows by many times its size within a minute, and until its first ANALYZE
      // each statement keeps the plan it got on empty tables (the check is one read of pg_stat_user_tables)
      statsTimer = setInterval(refresh, 5_000);
      statsTimer.unref();
      if (tls) {
        renewTimer = setInterval(async () => {
          try {
            const next = await tlsOptions();
            (app.server as import("node:https").Server).setSecureContext({ cert: next.cert, key: next.key });
          } catch (err) {
            log.error({ err }, "server certificate renewal failed");
          }
        }, 6 * 3600_000);
        renewTimer.unref();
      }
      return address;
    },
    async close() {
      if (renewTimer) clearInterval(renewTimer);
      if (pruneTimer) clearInterval(pruneTimer);
      if (statsTimer) clearInterval(statsTimer);
      statsTimer = undefined; // a refresh still under way may fail as the pool closes: not worth a warning
      idle.stop();
      await app.close(); // stops accepting, finishes in-flight requests
      await admin?.close();
      await ra.stopBackground(10_000);
      await va.close?.();
      await testDns?.close(); // after the validations it may be answering
      await db.close();
      await issuer.close?.();
    },
  };
}
