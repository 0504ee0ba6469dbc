// The management listener, apart from the ACME one (Pebble's habit): Prometheus metrics and health.
import Fastify, { type FastifyInstance } from "fastify";
import type { Registry } from "prom-client";

export { createMetrics } from "./metrics.js";

export async function startAdminServer(deps: { host: string; port: number; registry: Registry; ready: () => Promise<boolean> }): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.get("/metrics", async (_req, reply) => reply.type(deps.registry.contentType).send(await deps.registry.metrics()));
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_req, reply) => ((await deps.ready()) ? reply.send({ status: "ready" }) : reply.code(503).header("Retry-After", "5").send({ status: "not ready" })));
  await app.listen({ host: deps.host, port: deps.port });
  return app;
}
