// Prometheus metrics (prom-client): requests by route and status with latency, orders and certificates,
// validations by type and result with durations, nonce rejects, and the validation queue depth.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Metrics } from "../core/metrics.js";

export function createMetrics(deps: { queueDepth: () => Promise<number> }): { metrics: Metrics; registry: Registry } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "anvil_process_" });
  const requests = new Counter({ name: "anvil_http_requests_total", help: "HTTP requests by route, method and status", labelNames: ["route", "method", "status"], registers: [registry] });
  const latency = new Histogram({
    name: "anvil_http_request_duration_seconds",
    help: "HTTP request latency by route and method",
    labelNames: ["route", "method"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const orders = new Counter({ name: "anvil_orders_created_total", help: "orders created", registers: [registry] });
  const issued = new Counter({ name: "anvil_certificates_issued_total", help: "certificates issued", registers: [registry] });
  const validations = new Counter({ name: "anvil_validations_total", help: "validation attempts by challenge type and result", labelNames: ["type", "result"], registers: [registry] });
  const validationTime = new Histogram({
    name: "anvil_validation_duration_seconds",
    help: "validation attempt duration by challenge type",
    labelNames: ["type"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const nonceRejects = new Counter({ name: "anvil_nonce_rejects_total", help: "requests refused with badNonce", registers: [registry] });
  new Gauge({
    name: "anvil_validation_queue_depth",
    help: "challenges waiting for or under validation (all instances)",
    registers: [registry],
    async collect() {
      this.set(await deps.queueDepth());
    },
  });
  return {
    registry,
    metrics: {
      request(route, method, status, seconds) {
        requests.inc({ route, method, status: String(status) });
        latency.observe({ route, method }, seconds);
      },
      orderCreated: () => orders.inc(),
      certificateIssued: () => issued.inc(),
      validation(type, result, seconds) {
        validations.inc({ type, result });
        validationTime.observe({ type }, seconds);
      },
      nonceRejected: () => nonceRejects.inc(),
    },
  };
}
